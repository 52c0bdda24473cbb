"""The demo's small world: models, prices and upstream providers, shared by the
synthetic call log and the fake OpenRouter so that the two always agree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoUpstream:
    """One upstream provider serving a demo model."""

    name: str  # as OpenRouter reports it, e.g. "DeepInfra"
    slug: str  # routing slug, e.g. "deepinfra"
    latency_s: float  # median latency
    share: float  # share of the model's traffic
    quantization: str = "fp8"
    price_factor: float = 1.0


@dataclass(frozen=True)
class DemoModel:
    """One model the demo agent calls."""

    id: str
    name: str
    prompt_per_m: float  # USD per million prompt tokens
    completion_per_m: float
    weight: float  # share of all calls
    upstreams: tuple[DemoUpstream, ...]
    provider: str = "openrouter"  # Hermes provider
    base_url: str = "https://openrouter.ai/api/v1"
    rate_limit_prob: float = 0.005

    @property
    def is_local(self) -> bool:
        """Served by a local backend (no OpenRouter, no cost)."""
        return self.provider != "openrouter"


MODELS: tuple[DemoModel, ...] = (
    DemoModel(
        "anthropic/claude-sonnet-4.5",
        "Anthropic: Claude Sonnet 4.5",
        3.0,
        15.0,
        0.30,
        (
            DemoUpstream("Anthropic", "anthropic", 2.4, 0.6, "unknown"),
            DemoUpstream("Google", "google-vertex", 2.9, 0.3, "unknown"),
            DemoUpstream("Amazon Bedrock", "amazon-bedrock", 3.3, 0.1, "unknown"),
        ),
    ),
    DemoModel(
        "deepseek/deepseek-chat-v3.1",
        "DeepSeek: DeepSeek V3.1",
        0.27,
        1.10,
        0.22,
        (
            DemoUpstream("DeepInfra", "deepinfra", 1.6, 0.5, "fp8", 1.0),
            DemoUpstream("Fireworks", "fireworks", 1.1, 0.3, "fp8", 1.6),
            DemoUpstream("Together", "together", 1.3, 0.2, "fp8", 1.4),
        ),
    ),
    DemoModel(
        "openai/gpt-4o-mini",
        "OpenAI: GPT-4o-mini",
        0.15,
        0.60,
        0.18,
        (
            DemoUpstream("OpenAI", "openai", 0.9, 0.8, "unknown"),
            DemoUpstream("Azure", "azure", 1.2, 0.2, "unknown"),
        ),
    ),
    DemoModel(
        "google/gemini-2.5-flash",
        "Google: Gemini 2.5 Flash",
        0.30,
        2.50,
        0.12,
        (
            DemoUpstream("Google AI Studio", "google-ai-studio", 0.8, 0.7, "unknown"),
            DemoUpstream("Google", "google-vertex", 1.0, 0.3, "unknown"),
        ),
    ),
    DemoModel(
        "meta-llama/llama-3.3-70b-instruct:free",
        "Meta: Llama 3.3 70B Instruct (free)",
        0.0,
        0.0,
        0.08,
        (DemoUpstream("Chutes", "chutes", 3.8, 1.0, "bf16"),),
        rate_limit_prob=0.12,
    ),
    DemoModel(
        "qwen3:8b",
        "Qwen3 8B (Ollama)",
        0.0,
        0.0,
        0.07,
        (DemoUpstream("Ollama", "ollama", 4.5, 1.0, "q4_K_M"),),
        provider="custom",
        base_url="http://127.0.0.1:11434/v1",
        rate_limit_prob=0.0,
    ),
    DemoModel(
        "mistralai/mistral-small-3.2",
        "Mistral Small 3.2 (LM Studio)",
        0.0,
        0.0,
        0.03,
        (DemoUpstream("LM Studio", "lmstudio", 2.2, 1.0, "q8_0"),),
        provider="lmstudio",
        base_url="http://127.0.0.1:1234/v1",
        rate_limit_prob=0.0,
    ),
)

#: Providers OpenRouter would list (slugs for the routing editor).
PROVIDERS: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {(u.name, u.slug) for m in MODELS if not m.is_local for u in m.upstreams}
        | {("Groq", "groq"), ("Novita", "novita"), ("Chutes", "chutes"), ("Mistral", "mistral")}
    )
)

#: What the demo account has left over the generated history: credits, and key limit
#: left this month.
CREDITS_HEADROOM = 180.0
LIMIT_HEADROOM = 120.0


def model_by_id(model_id: str) -> DemoModel | None:
    """The demo model with this id."""
    return next((m for m in MODELS if m.id == model_id), None)
