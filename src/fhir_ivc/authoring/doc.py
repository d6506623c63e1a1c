"""docs/profiles.md, rendered from the authored resources and the mapping rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fhir_ivc.authoring import _common as package  # its metadata
from fhir_ivc.authoring._common import Json
from fhir_ivc.fhir.elements import CASE_ELEMENT_URL
from fhir_ivc.mappers import ELEMENTS
from fhir_ivc.mappers.measures import MEASURES

# `codes as C` / `local as L`: the same one-letter aliases as in the mappers
from fhir_ivc.terminology import codes as C  # noqa: N812
from fhir_ivc.terminology import local as L  # noqa: N812
from fhir_ivc.terminology.systems import CANONICAL

# --------------------------------------------------------------------------------------------
# docs/profiles.md
# --------------------------------------------------------------------------------------------

#: Local code system -> the case-model fields (``ElementMap.source``) whose values it codes.
CODE_SYSTEM_SOURCES: Mapping[str, tuple[str, ...]] = {
    "agent": ("systemic_therapy[].agents[]",),
    "associated-resection": ("surgery.associated_resections[].kind",),
    "biopsy-method": ("biopsy.method",),
    "clavien-dindo": ("surgery.complications[].clavien_dindo",),
    "complication": ("surgery.complications[].kind",),
    "fnclcc-grade": ("pathology.fnclcc_grade",),
    "imaging-modality": ("imaging[].modality",),
    "intraluminal-site": ("diagnosis.intraluminal_extension[]",),
    "ivc-management": ("surgery.ivc_management[].method",),
    "ivc-procedure": ("surgery.en_bloc",),
    "ivc-segment": ("diagnosis.ivc_segments", "surgery.resected_segments"),
    "management-decision": ("surgery.ivc_management[].decided",),
    "margin-status": ("pathology.margin_status",),
    "observation-code": (
        *(m.source for m in MEASURES if m.code.system == L.OBSERVATION_CODE.url),
        "diagnosis.organ_contact[].organ",
        "pathology.organ_infiltration[]",
        "pathology.r_classification",
        "tumor_markers[].name",
        "follow_up[].local_recurrence",
        "follow_up[].vital_status",
    ),
    "organ": ("diagnosis.organ_contact[].organ", "pathology.organ_infiltration[]"),
    "r-classification": ("pathology.r_classification",),
    "resection-extent": ("surgery.resection_extent",),
    "surgical-step": ("surgery.approach[].kind",),
    "symptom": ("presentation.symptoms[].kind",),
    "therapy-not-given": ("therapy_not_given[].therapy",),
    "therapy-setting": ("systemic_therapy[].setting", "therapy_not_given[].setting"),
    "vascular-graft-material": ("surgery.ivc_management[].graft_material",),
}

SEGMENT_QUOTE = (
    "The main classification used in the planning of a surgical approach divides the IVC "
    "into: An upper segment (above the hepatic veins), a middle segment (between hepatic and "
    "renal veins), and lower segment (below the renal veins)."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows_text(rows: Iterable[Any]) -> str:
    return "<br>".join(_cell(f"`{r.source}` → {r.target}") for r in rows) or "—"


def _tail(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _constraint_lines(sd: Mapping[str, Any]) -> list[str]:
    """A readable line per constrained differential element (the docs view of the profile)."""
    lines = []
    for e in sd["differential"]["element"][1:]:
        parts = []
        if "min" in e and "max" in e:
            parts.append(f"{e['min']}..{e['max']}")
        elif "min" in e:
            parts.append(f"min {e['min']}")
        elif "max" in e:
            parts.append(f"max {e['max']}")
        if "type" in e:
            kinds = []
            for t in e["type"]:
                targets = t.get("targetProfile") or t.get("profile") or []
                kinds.append(
                    f"{t['code']}({' | '.join(_tail(p) for p in targets)})"
                    if targets
                    else t["code"]
                )
            parts.append(" | ".join(kinds))
        for key in ("patternCodeableConcept", "fixedUri"):
            if key in e:
                value = e[key]
                if key == "patternCodeableConcept":
                    coding = value["coding"][0]
                    value = f"{_tail(coding['system'])}#{coding['code']}"
                parts.append(f"= `{value}`")
        if "slicing" in e:
            d = e["slicing"]["discriminator"][0]
            parts.append(f"sliced by {d['type']} of `{d['path']}`")
        if "binding" in e:
            b = e["binding"]
            parts.append(f"{b['strength']} binding to `{_tail(b['valueSet'])}`")
        if e.get("mustSupport"):
            parts.append("MS")
        if parts:
            lines.append(f"- `{e['id']}`: {', '.join(parts)}")
    for c in sd["differential"]["element"][0].get("constraint", []):
        lines.append(f"- invariant `{c['key']}`: {c['human']} (`{c['expression']}`)")
    return lines


def render_doc(items: Sequence[Json]) -> str:
    by_type: dict[str, list[Json]] = {}
    for r in items:
        by_type.setdefault(r["resourceType"], []).append(r)
    sds = by_type["StructureDefinition"]
    exts = [sd for sd in sds if sd["type"] == "Extension"]
    profs = [sd for sd in sds if sd["type"] != "Extension"]
    sources = {row.source for row in ELEMENTS}
    for name, srcs in CODE_SYSTEM_SOURCES.items():
        missing = [s for s in srcs if s not in sources]
        if missing:
            raise ValueError(f"CODE_SYSTEM_SOURCES[{name!r}]: {missing} not in mappers.ELEMENTS")
    if set(CODE_SYSTEM_SOURCES) != {cs.name for cs in L.LOCAL_CODE_SYSTEMS}:
        raise ValueError("CODE_SYSTEM_SOURCES must name every local code system exactly once")

    out = [
        "# Conformance artifacts: the `profiles/` FHIR package",
        "",
        "<!-- Generated by scripts/build_profiles.py: do not edit by hand. -->",
        "",
        f"`profiles/` is the NPM-style FHIR package "
        f"**`{package.PACKAGE_NAME}#{package.VERSION}`** (FHIR "
        f"{package.FHIR_VERSION}, canonical `{CANONICAL}`, dependencies "
        + ", ".join(f"`{k}#{v}`" for k, v in package.DEPENDENCIES.items())
        + "). Every artifact is `status: draft`, version "
        f"{package.VERSION}, publisher `{package.PUBLISHER}`, and its url is "
        f"`{CANONICAL}/<Type>/<id>`.",
        "",
        "Regenerate after changing a local code system (`src/fhir_ivc/terminology/local.toml`,"
        " or `local.py` for the two built by a rule), a mapper's URLs or codes, or a definition"
        " in the script:",
        "",
        "```sh",
        ".venv/bin/python scripts/build_profiles.py          # rewrite profiles/ and this page",
        ".venv/bin/python scripts/build_profiles.py --check  # CI: exit 1 when stale",
        ".venv/bin/python scripts/build_profiles.py --tgz    # + build/fhir-ivc.tgz (package/...)",
        "```",
        "",
        "**Authoring route.** The extensions and profiles are *differential* StructureDefinitions"
        " written as typed Python data in `src/fhir_ivc/authoring/` (one function per artifact, "
        "one line per constraint; `scripts/build_profiles.py` only writes them); code systems "
        "come from `LOCAL_CODE_SYSTEMS`, the operative measure profile from the measure rows, "
        "canonical URLs and fixed codes are imported from the mappers, so the package cannot "
        "drift from what the adapter emits. FSH/SUSHI was not used: SUSHI needs "
        "`hl7.fhir.r4.core#4.0.1` and the mCODE dependency chain (`hl7.fhir.us.core#6.1.0`, …) "
        "in a local FHIR package cache, and"
        " neither is obtainable offline here (the npm registry has only `hl7.fhir.us.mcode`). "
        "The package has no snapshots: a validator (e.g. HAPI with "
        "`SnapshotGeneratingValidationSupport`) generates them from the differentials.",
        "",
        "## Profiles",
        "",
        "| Profile | Base | Canonical URL | Case element(s) |",
        "|---|---|---|---|",
    ]
    for sd in profs:
        rows = [r for r in ELEMENTS if r.profile == sd["url"]]
        out.append(
            f"| **{sd['title']}** (`{sd['id']}`) | `{_tail(sd['baseDefinition'])}` | "
            f"`{sd['url']}` | {_rows_text(rows)} |"
        )
    out += ["", "### Constraints of each profile", ""]
    for sd in profs:
        out += [
            f"#### {sd['title']} (`{sd['id']}`)",
            "",
            _cell(sd["description"]),
            "",
            f"Why a project profile: {_cell(sd['purpose'])}",
            "",
            *_constraint_lines(sd),
            "",
        ]
    out += [
        "## Extensions",
        "",
        "| Extension | Context | Value | Canonical URL | Case element(s) |",
        "|---|---|---|---|---|",
    ]
    for sd in exts:
        value = next(e for e in sd["differential"]["element"] if e["id"] == "Extension.value[x]")
        if value.get("max") == "0":
            kind = "complex: `path` 1..1 string, `inferred` 0..* string"
        else:
            kind = value["type"][0]["code"]
            if "binding" in value:
                kind += (
                    f" ({value['binding']['strength']}: `{_tail(value['binding']['valueSet'])}`)"
                )
        context = ", ".join(c["expression"] for c in sd["context"])
        rows = [r for r in ELEMENTS if f"extension[{sd['id']}]" in str(r.target)]
        cases = (
            "every emitted resource: its case-model path and inferred facts"
            if sd["url"] == CASE_ELEMENT_URL
            else _rows_text(rows)
        )
        out.append(
            f"| **{sd['title']}** (`{sd['id']}`): {_cell(sd['description'])} | {context} | "
            f"{kind} | `{sd['url']}` | {cases} |"
        )
    out += [
        "",
        "## Code systems",
        "",
        "Each code system has a value set with the same id containing all its codes "
        f"(`{CANONICAL}/ValueSet/<id>`).",
        "",
        "| Code system | Codes | Canonical URL | Case element(s) |",
        "|---|---|---|---|",
    ]
    rows_by_source: dict[str, list[Any]] = {}
    for row in ELEMENTS:
        rows_by_source.setdefault(row.source, []).append(row)
    for cs in by_type["CodeSystem"]:
        rows = [r for s in CODE_SYSTEM_SOURCES[cs["id"]] for r in rows_by_source[s]]
        out.append(
            f"| **{cs['title']}** (`{cs['id']}`): {_cell(cs['description'])} | {cs['count']} | "
            f"`{cs['url']}` | {_rows_text(rows)} |"
        )
    subsets = [vs for vs in by_type["ValueSet"] if "concept" in vs["compose"]["include"][0]]
    out += [
        "",
        "## Other value sets",
        "",
        "| Value set | Content | Canonical URL |",
        "|---|---|---|",
    ]
    for vs in subsets:
        content = ", ".join(
            f"`{_tail(inc['system'])}#{c['code']}`"
            for inc in vs["compose"]["include"]
            for c in inc["concept"]
        )
        title = f"**{vs['title']}** (`{vs['id']}`): {_cell(vs['description'])}"
        out.append(f"| {title} | {content} | `{vs['url']}` |")
    out += [
        "",
        "## IVC segment definitions",
        "",
        f"Seed report: \u201c{SEGMENT_QUOTE}\u201d",
        "",
        f"Local code system `{L.IVC_SEGMENT.url}`, sent with the SNOMED CT location qualifier "
        "(`mcode-body-location-qualifier`) on `Condition.bodySite` / `Procedure.bodySite` "
        "(IVC, SNOMED CT 64131007) and in `BodyStructure.locationQualifier`:",
        "",
        "| Code | Display | Definition | SNOMED CT qualifier |",
        "|---|---|---|---|",
    ]
    for code, (display, definition) in L.IVC_SEGMENT.concepts.items():
        snomed = next(c for c in C.IVC_SEGMENT.entries[code] if c.system != L.IVC_SEGMENT.url)
        out.append(f"| `{code}` | {display} | {definition} | {snomed.code} {snomed.display} |")
    out += ["", "## Code system contents", ""]
    for cs in by_type["CodeSystem"]:
        out += [
            f"### {cs['title']} (`{cs['id']}`)",
            "",
            "| Code | Display | Definition |",
            "|---|---|---|",
            *(
                f"| `{c['code']}` | {_cell(c['display'])} | {_cell(c['definition'])} |"
                for c in cs["concept"]
            ),
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"
