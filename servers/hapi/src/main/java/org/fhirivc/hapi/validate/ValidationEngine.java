package org.fhirivc.hapi.validate;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.validation.ValidationContext;
import ca.uhn.fhir.validation.ValidationOptions;
import ca.uhn.hapi.converters.canonical.VersionCanonicalizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.common.hapi.validation.validator.ProfileKnowledgeWorkerR5;
import org.hl7.fhir.common.hapi.validation.validator.WorkerContextValidationSupportAdapter;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r5.conformance.profile.ProfileUtilities;
import org.hl7.fhir.r5.model.StructureDefinition;
import org.hl7.fhir.utilities.validation.ValidationMessage;

/**
 * The HL7 validation engine (HAPI's {@link FhirInstanceValidator}, i.e. the InstanceValidator of
 * org.hl7.fhir.core that the official validator runs) over an offline support chain:
 *
 * <ol>
 *   <li>{@link DefaultProfileValidationSupport}: the R4 (4.0.1) base definitions, value sets and code
 *       systems built into hapi-fhir-validation-resources-r4;
 *   <li>one {@link org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport} per
 *       FHIR package given (mCODE 4.0.0, the project package from profiles/);
 *   <li>{@link CommonCodeSystemsTerminologyService}: UCUM, BCP-47 languages, MIME types, ISO 3166/4217;
 *   <li>{@link ExternalCodeSystemWarnings}: SNOMED CT, LOINC, RxNorm, ICD-O-3, ICD-10, NCIt codes are
 *       warnings ("can't be validated"; membership in filter-defined value sets "not checked"), any
 *       other unknown system stays an error;
 *   <li>{@link InMemoryTerminologyServerValidationSupport}: expands and checks value sets whose code
 *       systems are known (R4 core, mCODE, the project's own) and enumerated value sets of any system;
 *   <li>{@link SnapshotGeneratingValidationSupport}: snapshots of differential-only profiles (ours).
 * </ol>
 *
 * <p>No remote terminology server, no package download: everything is local. Caching is the chain's
 * own (HAPI 8 folded {@code CachingValidationSupport}, now a deprecated no-op wrapper, into
 * {@link ValidationSupportChain}); its expiring cache is set long enough to outlive a run.
 */
final class ValidationEngine {

	/** Raw access to the core validator's messages (issue type, message id, slice details). */
	static final class Validator extends FhirInstanceValidator {
		private final FhirContext myCtx;

		Validator(FhirContext ctx, IValidationSupport support) {
			super(support);
			myCtx = ctx;
		}

		List<ValidationMessage> validateJson(String json) {
			return validate(ValidationContext.forText(myCtx, json, new ValidationOptions()));
		}
	}

	final FhirContext ctx;
	final ValidationSupportChain chain;
	final Validator validator;
	final List<FhirPackages.LoadedPackage> packages;

	ValidationEngine(FhirContext ctx, List<FhirPackages.LoadedPackage> packages) {
		this.ctx = ctx;
		this.packages = List.copyOf(packages);
		List<IValidationSupport> links = new ArrayList<>();
		links.add(new DefaultProfileValidationSupport(ctx));
		for (FhirPackages.LoadedPackage pkg : packages) {
			links.add(pkg.support());
		}
		links.add(new CommonCodeSystemsTerminologyService(ctx));
		// before the in-memory module, which would report codes of filter-defined value sets over
		// SNOMED CT / LOINC... as errors ("Unable to expand ValueSet"); see ExternalCodeSystemWarnings
		links.add(new ExternalCodeSystemWarnings(ctx));
		links.add(new InMemoryTerminologyServerValidationSupport(ctx));
		links.add(new SnapshotGeneratingValidationSupport(ctx));
		ValidationSupportChain.CacheConfiguration cache = ValidationSupportChain.CacheConfiguration.defaultValues()
				.setCacheTimeout(Duration.ofHours(6))
				.setCacheSize(50_000);
		chain = new ValidationSupportChain(cache, links);
		chain.setName("fhir-ivc offline validation chain");
		// A CodeableConcept meets a binding when ONE of its codings is in the value set (FHIR R4
		// "Terminology binding", and what the official validator does); HAPI's default demands all,
		// which fails every CodeableConcept that carries a local coding beside the bound one.
		chain.setCodeableConceptValidationSuccessfulIfNotAllCodingsAreValid(true);
		validator = new Validator(ctx, chain);
		// An extension the chain does not define is an error (HAPI's default only warns); a claimed
		// profile the chain does not know is an error (the default); best-practice rules (dom-6
		// narrative...) are warnings, as in the official validator.
		validator.setAnyExtensionsAllowed(false);
		validator.setErrorForUnknownProfiles(true);
		validator.setBestPracticeWarningLevel(org.hl7.fhir.r5.utils.validation.constants.BestPracticeWarningLevel.Warning);
	}

	List<ValidationMessage> validate(String json) {
		return validator.validateJson(json);
	}

	/**
	 * Generates the snapshot of a (differential) StructureDefinition the way
	 * {@link SnapshotGeneratingValidationSupport} does, but keeps the generator's messages, which
	 * that class drops. Returns the messages; {@code elements[0]} receives the snapshot's size.
	 */
	List<ValidationMessage> generateSnapshot(IBaseResource structureDefinition, int[] elements) {
		List<ValidationMessage> messages = new ArrayList<>();
		VersionCanonicalizer canonicalizer = new VersionCanonicalizer(ctx);
		IBaseResource clone = ctx.newTerser().clone(structureDefinition);
		StructureDefinition sd = canonicalizer.structureDefinitionToCanonical(clone);
		sd.setSnapshot(null);
		WorkerContextValidationSupportAdapter worker =
				WorkerContextValidationSupportAdapter.newVersionSpecificWorkerContextWrapper(chain);
		StructureDefinition base = worker.fetchResource(StructureDefinition.class, sd.getBaseDefinition());
		if (base == null) {
			ValidationMessage m = new ValidationMessage();
			m.setLevel(ValidationMessage.IssueSeverity.ERROR);
			m.setType(ValidationMessage.IssueType.NOTFOUND);
			m.setLocation("StructureDefinition.baseDefinition");
			m.setMessage("base definition not found: " + sd.getBaseDefinition());
			messages.add(m);
			elements[0] = 0;
			return messages;
		}
		ProfileUtilities utilities = new ProfileUtilities(worker, messages, new ProfileKnowledgeWorkerR5(ctx));
		try {
			utilities.generateSnapshot(base, sd, sd.getUrl(), null, sd.getName());
		} catch (RuntimeException e) {
			ValidationMessage m = new ValidationMessage();
			m.setLevel(ValidationMessage.IssueSeverity.FATAL);
			m.setType(ValidationMessage.IssueType.EXCEPTION);
			m.setLocation("StructureDefinition");
			m.setMessage("snapshot generation failed: " + e);
			messages.add(m);
		}
		elements[0] = sd.hasSnapshot() ? sd.getSnapshot().getElement().size() : 0;
		return messages;
	}
}
