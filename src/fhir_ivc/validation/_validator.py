"""The validator: the compiled profiles of one registry, and the entry points that run the stages.

One call runs the structure stage (:mod:`._structure`, R4 core tables) over the whole document,
the bundle rules, and the profile stage (:mod:`._profile_stage`) for every resource, with one
issue list. The compiled profiles, their invariants and the memos live here, for the process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fhir_ivc.validation._base_invariants import BASE_INVARIANTS
from fhir_ivc.validation._compile import prune
from fhir_ivc.validation._core import Core, Table, core
from fhir_ivc.validation._entry_memo import (
    Effects,
    Generations,
    Recording,
    entry_key,
    replay_effects,
    uuid_free,
)
from fhir_ivc.validation._invariants import INVARIANTS, Invariant, normalise
from fhir_ivc.validation._issues import RANK, Issue, Severity, make_issue
from fhir_ivc.validation._package import Registry, canonical
from fhir_ivc.validation._profile import Node, Profile, compile_profile
from fhir_ivc.validation._profile_stage import Run, claims
from fhir_ivc.validation._structure import Structure
from fhir_ivc.validation._terminology import Terminology

__all__ = ["Validator"]


class Validator:
    """Profiles compiled from one :class:`Registry`, kept for every later call."""

    def __init__(self, registry: Registry, core_tables: Core | None = None) -> None:
        self.registry = registry
        self.core = core_tables if core_tables is not None else core()
        self.terminology = Terminology(registry, self._core_expansion)
        self._target_types: dict[str, str | None] = {}
        #: subtrees found clean before, and the notes they give (see Structure)
        self.memo: dict[tuple[int, bytes], tuple[tuple[object, str, str], ...]] = {}
        #: (profile element, JSON) pairs found clean by the profile stage
        self.clean: set[tuple[int, bytes]] = set()
        self._invariants: dict[str, list[tuple[str, Invariant | None, Severity, str]]] = {}
        self._profiles: dict[str, Profile | None] = {}
        self._chains: dict[str, tuple[Profile, ...]] = {}
        #: bundle entries' resources found clean by the structure walk / by the profile stage
        #: (see :mod:`._entry_memo`), by their key
        self.entries: Generations[bytes, Effects] = Generations()
        self.entry_profiles: Generations[tuple[bytes, tuple[str, ...]], Effects] = Generations()
        self._uuid_free: bool | None = None
        #: False: every entry walked and checked as if met for the first time (to measure the
        #: memo, benchmarks/bench_map.py; the issues are the same either way)
        self.use_entry_memo = True

    def clear_memos(self) -> None:
        """Forget every remembered result (what a fresh process would start with)."""
        self.memo.clear()
        self.clean.clear()
        self.entries.clear()
        self.entry_profiles.clear()
        for primitive in self.core.primitives.values():
            primitive.seen.clear()

    def normalise_uuids(self) -> bool:
        """May the entry memo abstract uuids (no constant of the tables or packages holds one)?"""
        if self._uuid_free is None:
            registry = self.registry
            self._uuid_free = uuid_free(
                self.core.serialised(),
                orjson.dumps(registry.structure_definitions),
                orjson.dumps(registry.value_sets),
                orjson.dumps(registry.code_systems),
            )
        return self._uuid_free

    def _core_expansion(self, url: str) -> tuple[frozenset[tuple[str, str]], str] | None:
        """A value set of the R4 core tables (the profile stage's fallback): its pairs, or why
        it cannot be expanded; None when the core does not have it."""
        if not self.core.has_value_set(url):
            return None
        expansion = self.core.expansion(url)
        return expansion.pairs, expansion.unexpandable

    # -- profiles ------------------------------------------------------------------------------

    def profile(self, url: str) -> Profile | None:
        """The compiled profile of ``url`` (None when the registry does not have it)."""
        url = canonical(url)
        if url not in self._profiles:
            self._profiles[url] = None  # a cycle of baseDefinitions ends here
            sd = self.registry.structure_definition(url)
            if sd is not None:
                base_url = sd.get("baseDefinition")
                base = self.profile(base_url) if isinstance(base_url, str) else None
                compiled = compile_profile(sd, base)
                if compiled.kind == "resource" and compiled.snapshot:
                    prune(compiled.root, self.core.table(compiled.type), self.target_type)
                self._profiles[url] = compiled
        return self._profiles[url]

    def chain(self, url: str) -> tuple[Profile, ...]:
        """The profile and, while they are differentials, the known profiles it derives from.

        A snapshot holds everything its bases say, so the chain stops there; a base that is not
        in the registry (FHIR core types) is left to the structure stage.
        """
        url = canonical(url)
        found = self._chains.get(url)
        if found is None:
            profile = self.profile(url)
            found = ()
            if profile is not None:
                found = (profile,)
                if not profile.snapshot and profile.base and profile.base != url:
                    found += self.chain(profile.base)
            self._chains[url] = found
        return found

    def datatype_root(self, url: str) -> Node | None:
        profile = self.profile(url)
        return profile.root if profile is not None else None

    def target_type(self, url: str) -> str | None:
        """The resource type a targetProfile stands for (None: not known here)."""
        if url not in self._target_types:
            sd = self.registry.structure_definition(url)
            found = sd.get("type") if sd is not None else None
            if found is None:
                last = url.rstrip("/").rsplit("/", 1)[-1]
                found = last if self.core.is_resource_type(last) else None
            self._target_types[url] = str(found) if found else None
        return self._target_types[url]

    def invariants_of(self, profile: Profile) -> list[tuple[str, Invariant | None, Severity, str]]:
        """The resource-level constraints of ``profile``, compiled once: (key, implementation
        or None for "not evaluated", severity, message). Core constraints are the structure
        stage's (R4 tables); every other one without an implementation is noted."""
        found = self._invariants.get(profile.url)
        if found is None:
            found = []
            for constraint in profile.root.constraints:
                key = str(constraint.get("key", ""))
                if key in BASE_INVARIANTS or key.startswith(("ele-", "ext-", "dom-")):
                    continue
                implemented = INVARIANTS.get(key)
                expression = normalise(str(constraint.get("expression", "")))
                severity: Severity = (
                    "warning" if constraint.get("severity") == "warning" else "error"
                )
                if implemented is None:
                    found.append((key, None, "information", f"invariant {key} not evaluated"))
                elif expression != normalise(implemented.expression):
                    message = (
                        f"invariant {key} not evaluated: its expression is not the one implemented"
                    )
                    found.append((key, None, "information", message))
                else:
                    human = str(constraint.get("human", "")).strip()
                    found.append((key, implemented, severity, f"constraint {key} failed: {human}"))
            self._invariants[profile.url] = found
        return found

    # -- entry points --------------------------------------------------------------------------

    def _stages(self) -> tuple[Run, Structure]:
        run = Run(self)
        structure = Structure(
            self.core,
            project_codes=self.terminology.codes,
            on_extension=run.extension,
            on_coding=run.coding,
            recorded=run.recorded,
            memo=self.memo,
        )
        run.structure = structure
        return run, structure

    def check_resource(
        self, resource: Mapping[str, Any], profiles: Sequence[str] | None, root: str
    ) -> list[Issue]:
        """Structure and profile issues of one resource (a Bundle: see :meth:`check_bundle`)."""
        if resource.get("resourceType") == "Bundle":
            return self.check_bundle(resource, profiles)
        run, structure = self._stages()
        where = root or str(resource.get("resourceType", "Resource"))
        if structure.resource(resource, where):
            run.resource(resource, claims(resource) if profiles is None else profiles, where)
        return structure.issues + run.finish() + structure.note_issues()

    def check_bundle(
        self,
        bundle: Mapping[str, Any],
        profiles: Sequence[str] | None = None,
        min_severity: Severity = "information",
    ) -> list[Issue]:
        """Structure of the bundle and its entries, the bundle rules, then the profiles of each.

        ``min_severity``: the least severe issues the caller keeps (those below it may be left
        out; the caller filters, :func:`fhir_ivc.validation.validate`)."""
        run, structure = self._stages()
        if bundle.get("resourceType") != "Bundle":
            return [make_issue("error", "structure", "Bundle", "not a Bundle")]
        entries = bundle.get("entry")
        entries = entries if isinstance(entries, list) else []
        structure.in_bundle = True
        full_urls = structure.full_urls
        for i, entry in enumerate(entries):
            if not (type(entry) is dict or isinstance(entry, Mapping)):
                continue
            full_url = entry.get("fullUrl")
            resource = entry.get("resource")
            if not isinstance(full_url, str) or not full_url:
                if type(resource) is dict or isinstance(resource, Mapping):
                    structure.error(f"Bundle.entry[{i}].fullUrl", "missing", "required")
                continue
            if (type(resource) is dict or isinstance(resource, Mapping)) and isinstance(
                resource.get("resourceType"), str
            ):
                full_urls.setdefault(full_url, resource["resourceType"])
        entry_memo = _EntryMemo(self, structure, run, RANK[min_severity])
        if self.use_entry_memo:
            structure.entry_walk = entry_memo.walk
        if not structure.resource(bundle, "Bundle"):
            return structure.issues
        run.resource(bundle, claims(bundle) if profiles is None else profiles, "Bundle")
        for i, entry in enumerate(entries):
            resource = (
                entry.get("resource")
                if (type(entry) is dict or isinstance(entry, Mapping))
                else None
            )
            if (
                type(resource) is dict or isinstance(resource, Mapping)
            ) and structure.core.is_resource_type(str(resource.get("resourceType"))):
                where = f"Bundle.entry[{i}].resource"
                wanted = list(claims(resource))
                wanted += [p for p in run.required_profiles.pop(where, ()) if p not in wanted]
                if self.use_entry_memo:
                    entry_memo.profiles(resource, wanted, where)
                else:
                    run.resource(resource, wanted, where)
        return structure.issues + run.finish() + structure.note_issues()


class _EntryMemo:
    """One bundle's use of the entry memo (:mod:`._entry_memo`): each entry's key computed
    once, the structure walk and the profile run of an entry replayed when remembered."""

    def __init__(self, validator: Validator, structure: Structure, run: Run, limit: int) -> None:
        self.validator, self.structure, self.run = validator, structure, run
        self.limit = limit
        self.normalise = validator.normalise_uuids()
        self._keys: dict[int, bytes | None] = {}

    def key(self, resource: Mapping[str, Any]) -> bytes | None:
        found = self._keys.get(id(resource), b"")
        if found == b"":
            found = entry_key(resource, self.structure.target_type, self.normalise)
            self._keys[id(resource)] = found
        return found

    def walk(self, resource: dict[str, Any], table: Table, path: str) -> None:
        structure = self.structure
        key = self.key(resource)
        memo = self.validator.entries
        effects = memo.get(key) if key is not None else None
        if effects is not None:
            replay_effects(structure, self.run, effects, path, self.limit)
            return
        recording = Recording(structure, self.run)
        structure.walk(resource, table, path)
        effects = recording.stop(path)
        if effects is not None and key is not None:
            memo.put(key, effects)

    def profiles(self, resource: Mapping[str, Any], wanted: list[str], path: str) -> None:
        key = self.key(resource)
        if key is None:
            self.run.resource(resource, wanted, path)
            return
        memo = self.validator.entry_profiles
        full = (key, tuple(wanted))
        effects = memo.get(full)
        if effects is not None:
            replay_effects(self.structure, self.run, effects, path, self.limit)
            return
        recording = Recording(self.structure, self.run)
        self.run.resource(resource, wanted, path)
        effects = recording.stop(path)
        if effects is not None:
            memo.put(full, effects)
