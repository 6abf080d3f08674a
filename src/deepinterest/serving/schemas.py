"""Request and response bodies of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

RawId = Annotated[str, Field(min_length=1, max_length=200)]


class RecommendRequest(BaseModel):
    """Whom to recommend for: exactly one of `user`, `raw_user`, `items`, `raw_items`."""

    model_config = ConfigDict(extra="forbid")
    user: StrictInt | None = Field(None, description="a known user by the dataset's id (0-based index)")
    raw_user: RawId | None = Field(None, description="a known user by the source's id (e.g. a reviewer id)")
    items: list[StrictInt] | None = Field(None, min_length=1, description="an ad-hoc history, oldest first, by dataset item ids")
    raw_items: list[RawId] | None = Field(None, min_length=1, description="an ad-hoc history by the source's item ids (ASINs)")
    k: StrictInt = Field(10, ge=1, description="how many items, at most the run's beam width")
    exclude_history: StrictBool = Field(False, description="leave out items already in the history (may return fewer than k)")
    explain: StrictBool = Field(True, description="add each item's deep-interest explanation")

    @model_validator(mode="after")
    def _one_subject(self) -> RecommendRequest:
        given = [name for name in ("user", "raw_user", "items", "raw_items") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of user, raw_user, items, raw_items (got {', '.join(given) or 'none'})")
        return self


class Match(BaseModel):
    user_interest: str
    item_interest: str
    similarity: float
    weight: float


class Explanation(BaseModel):
    matches: list[Match] = Field(description="interest pairs that reach the threshold; else the closest one")
    weak: bool = Field(description="true when no pair reaches the threshold (or there are no interests)")
    text: str


class ItemBrief(BaseModel):
    item: int
    raw_id: str
    title: str
    sid: str


class Recommendation(ItemBrief):
    rank: int
    score: float = Field(description="log-probability of the item's SID under the model")
    explanation: Explanation | None = None


class RecommendResponse(BaseModel):
    user: int | None
    history: list[ItemBrief]
    recommendations: list[Recommendation]


class TrieStep(BaseModel):
    level: int
    token: str
    items_with_prefix: int


class ItemInfo(BaseModel):
    model_config = ConfigDict(extra="allow")  # brand, categories, description where the dataset has them
    item: int
    raw_id: str
    title: str
    sid: str
    trie_path: list[TrieStep]
    siblings: list[int] = Field(description="items under the same SID prefix one level up")
    interests: list[dict] = Field(description="mined interests: interest, kind, confidence, probability, keep (RLDI)")
    q: float | None = Field(description="RLDI's interest quality q_i of the item")


class UserInfo(BaseModel):
    user: int
    raw_id: str
    history: list[ItemBrief]


class Health(BaseModel):
    status: str
    run: str
    model: str
    backbone: str
    items: int
    users: int
    beams: int
    max_items: int
    max_history: int
    interests: bool
    metrics: dict
    batching: dict


class Problem(BaseModel):
    error: str = Field(description="what is wrong, starting with the field it concerns")
    field: str | None = None
