package org.fhirivc.hapi.validate;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.ConceptValidationOptions;
import ca.uhn.fhir.context.support.LookupCodeRequest;
import ca.uhn.fhir.context.support.ValidationSupportContext;
import java.util.Map;
import java.util.TreeMap;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.CodeSystem;
import org.hl7.fhir.r4.model.ValueSet;

/**
 * The last link of the chain: codes of the large external terminologies that cannot be shipped or
 * looked up offline (SNOMED CT, LOINC, RxNorm, ICD-O-3, ICD-10(-CM/-PCS), NCI Thesaurus) are reported as a
 * WARNING "CodeSystem is unknown and can't be validated" instead of an error.
 *
 * <p>HAPI's {@link UnknownCodeSystemWarningValidationSupport} (severity WARNING) does this for
 * <em>every</em> code system the chain does not know, which would also hide a mistyped system URL
 * of the project's own code systems. This subclass applies it only to the systems listed in
 * {@link #EXTERNAL}; any other unknown system stays an error. HAPI 8.6 deprecated the class in
 * favour of a server interceptor (ValidationMessageUnknownCodeSystemProcessingInterceptor), which
 * does not apply to a stand-alone validator; the class is still the documented way for one.
 */
@SuppressWarnings("deprecation")
final class ExternalCodeSystemWarnings extends UnknownCodeSystemWarningValidationSupport {

	/** System URL -> why it cannot be checked here. Documented in docs/conformance.md. */
	static final Map<String, String> EXTERNAL = new TreeMap<>(Map.of(
			"http://snomed.info/sct", "SNOMED CT (licensed, ~350k concepts; no offline release here)",
			"http://loinc.org", "LOINC (no offline release here)",
			"http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm (UMLS licence; no offline release here)",
			"http://terminology.hl7.org/CodeSystem/icd-o-3", "ICD-O-3 (WHO; not distributed as FHIR)",
			"http://hl7.org/fhir/sid/icd-10", "ICD-10 (WHO; not distributed as FHIR)",
			"http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM (not distributed as FHIR here)",
			"http://www.cms.gov/Medicare/Coding/ICD10", "ICD-10-PCS (CMS; not distributed as FHIR here)",
			"http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
					"NCI Thesaurus (used by mCODE's histologic grade; no offline release here)"));

	ExternalCodeSystemWarnings(FhirContext ctx) {
		super(ctx);
		setNonExistentCodeSystemSeverity(IssueSeverity.WARNING);
	}

	private static boolean external(String system) {
		return system != null && EXTERNAL.containsKey(system);
	}

	@Override
	public String getName() {
		return "fhir-ivc external code systems as warnings";
	}

	@Override
	public boolean isCodeSystemSupported(ValidationSupportContext ctx, String system) {
		return external(system) && super.isCodeSystemSupported(ctx, system);
	}

	@Override
	public LookupCodeResult lookupCode(ValidationSupportContext ctx, LookupCodeRequest request) {
		return external(request.getSystem()) ? super.lookupCode(ctx, request) : null;
	}

	@Override
	public CodeValidationResult validateCode(
			ValidationSupportContext ctx,
			ConceptValidationOptions options,
			String system,
			String code,
			String display,
			String valueSetUrl) {
		return external(system) ? super.validateCode(ctx, options, system, code, display, valueSetUrl) : null;
	}

	/**
	 * Membership of an external code in a value set. When the value set enumerates the codes of
	 * that system ({@code include.concept}), this returns null so that the in-memory terminology
	 * module (next in the chain) checks the code against the list: a code outside it stays an
	 * error. When the value set (or a value set it includes) selects that system's codes by a filter
	 * ({@code is-a}, {@code descendent-of}...) or includes the whole system, membership cannot be
	 * decided without the terminology: WARNING "not checked" (otherwise the in-memory module reports
	 * an error "Unable to expand ValueSet ... CodeSystem is ignored/not-present" for every such
	 * code). A code that an exclude lists explicitly is left to the in-memory module (an error).
	 */
	@Override
	public CodeValidationResult validateCodeInValueSet(
			ValidationSupportContext ctx,
			ConceptValidationOptions options,
			String system,
			String code,
			String display,
			IBaseResource valueSet) {
		if (!external(system)
				|| !(valueSet instanceof ValueSet vs)
				|| !unavailable(ctx, system)
				|| !selectsByFilter(ctx, vs, system, 0)
				|| excludedExplicitly(ctx, vs, system, code, 0)) {
			return null;
		}
		String message = "Code " + system + "#" + code + " was not checked against value set " + vs.getUrl()
				+ ": the value set selects " + system + " codes by filter and " + EXTERNAL.get(system)
				+ " is not available offline";
		CodeValidationResult result = new CodeValidationResult()
				.setCode(code)
				.setCodeSystemName(system)
				.setDisplay(display)
				.setSeverity(IssueSeverity.WARNING)
				.setMessage(message);
		result.addIssue(new CodeValidationIssue(
				message, IssueSeverity.WARNING, CodeValidationIssueCode.NOT_FOUND, CodeValidationIssueCoding.NOT_FOUND));
		return result;
	}

	private static final int MAX_DEPTH = 8;

	private static ValueSet fetch(ValidationSupportContext ctx, String canonical) {
		String url = canonical.contains("|") ? canonical.substring(0, canonical.indexOf('|')) : canonical;
		return ctx.getRootValidationSupport().fetchValueSet(url) instanceof ValueSet vs ? vs : null;
	}

	/** Does the value set (or one it includes) take codes of {@code system} by filter or whole? */
	static boolean selectsByFilter(ValidationSupportContext ctx, ValueSet vs, String system, int depth) {
		if (!vs.hasCompose() || depth > MAX_DEPTH) {
			return false;
		}
		for (ValueSet.ConceptSetComponent include : vs.getCompose().getInclude()) {
			if (system.equals(include.getSystem()) && (include.hasFilter() || !include.hasConcept())) {
				return true;
			}
			for (var imported : include.getValueSet()) {
				ValueSet other = fetch(ctx, imported.getValue());
				if (other != null && selectsByFilter(ctx, other, system, depth + 1)) {
					return true;
				}
			}
		}
		return false;
	}

	/** Is {@code system#code} listed by an exclude of the value set (directly or in an excluded set)? */
	static boolean excludedExplicitly(ValidationSupportContext ctx, ValueSet vs, String system, String code, int depth) {
		if (!vs.hasCompose() || depth > MAX_DEPTH) {
			return false;
		}
		for (ValueSet.ConceptSetComponent exclude : vs.getCompose().getExclude()) {
			if (system.equals(exclude.getSystem()) && lists(exclude, code)) {
				return true;
			}
			for (var excluded : exclude.getValueSet()) {
				ValueSet other = fetch(ctx, excluded.getValue());
				if (other != null && enumerates(ctx, other, system, code, depth + 1)) {
					return true;
				}
			}
		}
		for (ValueSet.ConceptSetComponent include : vs.getCompose().getInclude()) {
			for (var imported : include.getValueSet()) {
				ValueSet other = fetch(ctx, imported.getValue());
				if (other != null && excludedExplicitly(ctx, other, system, code, depth + 1)) {
					return true;
				}
			}
		}
		return false;
	}

	private static boolean enumerates(ValidationSupportContext ctx, ValueSet vs, String system, String code, int depth) {
		if (!vs.hasCompose() || depth > MAX_DEPTH) {
			return false;
		}
		for (ValueSet.ConceptSetComponent include : vs.getCompose().getInclude()) {
			if (system.equals(include.getSystem()) && lists(include, code)) {
				return true;
			}
			for (var imported : include.getValueSet()) {
				ValueSet other = fetch(ctx, imported.getValue());
				if (other != null && enumerates(ctx, other, system, code, depth + 1)) {
					return true;
				}
			}
		}
		return false;
	}

	private static boolean lists(ValueSet.ConceptSetComponent set, String code) {
		return set.getConcept().stream().anyMatch(c -> code.equals(c.getCode()));
	}

	/**
	 * No CodeSystem for {@code system} in the chain, or only a stub without concepts (R4 itself
	 * ships SNOMED CT and LOINC as CodeSystems with content "not-present").
	 */
	private static boolean unavailable(ValidationSupportContext ctx, String system) {
		IBaseResource cs = ctx.getRootValidationSupport().fetchCodeSystem(system);
		return cs == null
				|| (cs instanceof CodeSystem r4 && r4.getContent() == CodeSystem.CodeSystemContentMode.NOTPRESENT);
	}

}
