"""Which batching rule each trainer profile follows (:mod:`aspectbucket.geometry.ledger`).

Kept beside the profiles rather than in them: a profile describes bucketing, and a trainer's
batching is counted by one of the ledger's rules, named here per profile. A profile without a rule
of its own (diffusers, EveryDream2) is counted by the rule that treats a short batch as its
``batch_policy`` says: short like sd-scripts, dropped like OneTrainer, padded like ai-toolkit.
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.ledger import BatchingError, BatchingRule
from aspectbucket.profiles.profile import Profile
from aspectbucket.profiles.registry import get_profile

#: The batching rule of each profile that has one of its own; others follow their batch policy.
PROFILE_BATCHING = {
    "kohya": BatchingRule.KOHYA,
    "balanced": BatchingRule.KOHYA,
    "musubi": BatchingRule.MUSUBI,
    "onetrainer": BatchingRule.ONETRAINER,
    "diffusion-pipe": BatchingRule.DIFFUSION_PIPE,
    "ai-toolkit": BatchingRule.AI_TOOLKIT,
    "simpletuner": BatchingRule.SIMPLETUNER,
    "novelai": BatchingRule.NOVELAI,
}

#: A profile without a rule of its own is counted by the rule that treats a short batch as it does.
_POLICY_BATCHING = {
    BatchPolicy.SHORT: BatchingRule.KOHYA,
    BatchPolicy.DROP: BatchingRule.ONETRAINER,
    BatchPolicy.PAD: BatchingRule.AI_TOOLKIT,
    BatchPolicy.MERGE: BatchingRule.KOHYA,
}


def batching_rule(profile: str | Profile, batching: str | BatchingRule | None = None) -> BatchingRule:
    """The batching rule a ledger uses: ``batching`` if given, else the profile's own (or its policy's)."""
    if batching is not None:
        try:
            return BatchingRule(batching)
        except ValueError:
            allowed = ", ".join(rule.value for rule in BatchingRule)
            raise BatchingError(f"batching {batching!r} is not one of: {allowed}") from None
    chosen = get_profile(profile)
    return PROFILE_BATCHING.get(chosen.name, _POLICY_BATCHING[chosen.batch_policy])
