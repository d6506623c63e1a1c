"""Shared building blocks of the case model: strict base class, identifiers, inferred markers."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["CaseModel", "ItemKey", "KindItem", "ListItem", "NonEmptyText", "StrictModel"]

NonEmptyText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]

#: Key of a list item (``metastases[].key``): stable across edits of the item's other fields, so
#: the FHIR resource identifiers derived from it stay stable too.
ItemKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class StrictModel(BaseModel):
    """Unknown fields are rejected (a typo must not silently drop data); instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CaseModel(StrictModel):
    """Base of every case-model class that holds clinical facts.

    ``inferred`` names the fields of *this* object whose values were inferred from the source
    text rather than stated in it (mark "inf." in docs/terminology.md). The mappers carry the
    marker onto the FHIR element that holds the value and read it back, so the marker survives
    a round trip.
    """

    #: fields that may not be listed in ``inferred`` (bookkeeping, not clinical facts)
    _not_inferable: ClassVar[frozenset[str]] = frozenset({"inferred", "key"})

    inferred: list[str] = Field(
        default_factory=list,
        description="Names of fields of this object whose values are inferred, not stated.",
    )

    @model_validator(mode="before")
    @classmethod
    def _order_inferred(cls, data: Any) -> Any:
        # One canonical order (the order fields are declared in) so that a case read back from
        # FHIR, where markers come from several resources, equals the original.
        if isinstance(data, dict) and isinstance(data.get("inferred"), list):
            order = {name: i for i, name in enumerate(cls.model_fields)}
            names = data["inferred"]
            if all(isinstance(n, str) for n in names):
                data = {**data, "inferred": sorted(names, key=lambda n: order.get(n, len(order)))}
        return data

    @model_validator(mode="after")
    def _check_inferred(self) -> CaseModel:
        allowed = set(type(self).model_fields) - self._not_inferable
        unknown = [name for name in self.inferred if name not in allowed]
        if unknown:
            raise ValueError(
                f"inferred names unknown field(s) {unknown}; allowed: {sorted(allowed)}"
            )
        if len(set(self.inferred)) != len(self.inferred):
            raise ValueError("inferred lists a field twice")
        for name in self.inferred:
            if getattr(self, name) in (None, [], ""):
                raise ValueError(f"inferred names {name!r}, which has no value")
        return self

    def is_inferred(self, name: str) -> bool:
        return name in self.inferred


class ListItem(CaseModel):
    """A list element with an optional stable ``key``.

    When ``key`` is absent the bundle builder derives one from the item's natural key (for
    example the metastasis site) and its rank among items with the same natural key.
    """

    key: ItemKey | None = Field(
        default=None,
        description="Stable key of this item inside the case (lower-case letters, digits, '-').",
    )

    def natural_key(self) -> str:  # pragma: no cover - overridden by every list item class
        raise NotImplementedError


class KindItem(ListItem):
    """A list item named by its ``kind`` (its natural key), with a free ``text``; the kind
    ``other`` needs the text that says what it is. Subclasses narrow ``kind`` to their codes."""

    #: how an error names the item: "a symptom of kind 'other' needs a text"
    noun: ClassVar[str]

    kind: str
    text: NonEmptyText | None = None

    @model_validator(mode="after")
    def _other_needs_text(self) -> Self:
        if self.kind == "other" and not self.text:
            raise ValueError(f"a {self.noun} of kind 'other' needs a text")
        return self

    def natural_key(self) -> str:
        return self.kind
