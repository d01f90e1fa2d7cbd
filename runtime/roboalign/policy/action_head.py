"""Stage 3 action head: a flow-matching DiT (GR00T-N1.5 style) over a frozen MLLM's features.

    head = FlowMatchingHead(HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=128))
    loss = head.loss(actions, features, feature_mask, state)     # training (normalised actions)
    chunk = head.sample(features, feature_mask, state, noise)    # inference, 4 Euler steps

Conventions (GR00T N1.5's, stated because pi0/openpi use the mirror image):
- Interpolation x_t = (1 - t) * noise + t * action: t = 0 is pure noise, t = 1 the action.
- The network predicts the velocity v = action - noise (constant along the straight path).
- Training time: t = s * (1 - u) with u ~ Beta(1.5, 1) and s = 0.999 (pi0's density
  p(t) = Beta((s - t) / s; 1.5, 1), which GR00T also uses): most samples fall at low t (the
  noisy end, where the decision is hardest), and t stays in [0, s], never exactly 1.
- Inference: Euler from t = 0 to 1 in `num_steps` equal steps (4 by default):
  x <- x + (1 / num_steps) * v(x, t).
- The time fed to the network is t * 1000 through a sinusoidal embedding (GR00T discretises
  t into 1000 buckets; the continuous form is the same function on the bucket centres).

Architecture (sizes in HeadConfig):
- backbone features [B, T, C] -> LayerNorm + Linear -> memory [B, T, d] (computed once per chunk),
  plus a learned embedding of each token's index in the prompt (counted from the first real
  token, so left padding does not shift it). Why: Qwen2.5-VL's vision tower and LLM encode
  position only through rotary attention, so the hidden states alone do not say *where* in the
  image a vision token sits; the prompt template is fixed, so the index does (measured in
  docs/stage3.md). feature_mask [B, T] (1 = token, 0 = padding) keeps padding out of every
  cross-attention.
- state [B, Ds] (normalised joint positions) -> MLP -> one state token.
- noisy actions [B, H, Da] -> Linear + learned position embedding -> H action tokens.
- blocks: over the sequence [state token, action tokens]: self-attention, cross-attention to
  the memory, MLP; each sub-layer pre-normed and modulated by the time embedding
  (adaLN-Zero: shift, scale and a gate that starts at 0, so every block starts as identity).
- final adaLN + Linear (zero-initialised) on the H action tokens -> velocity [B, H, Da].

Optional, and a documented DEVIATION from GR00T/RoboAlign (off unless `image_size` > 0): a
small conv encoder of the head's own reads each camera image at `image_size` px and adds
keypoint and cell tokens per camera to the memory (ImageEncoder). Why it exists: the tiny CPU backbones here
localise the blocks only to ~5 cm (probe in docs/stage3.md), which the touch task cannot
tolerate; with a real 7B backbone leave it off and rely on the backbone's features.

Attention is written as matmul + softmax with an additive mask (no fused kernels) so the same
graph exports to ONNX with either exporter and builds in TensorRT.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

# HeadConfig lives in a torch-free module (configs load without torch).
from roboalign.policy.action_head_config import CONFIG_FILE, HeadConfig
from roboalign.policy.head_image import ImageEncoder
from roboalign.policy.integrity import read_json, verify_safetensors

WEIGHTS_FILE = "model.safetensors"
MASK_NEG = -1e4  # additive attention bias for padding (finite: fp16 engines and all-pad rows stay NaN-free)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of t * 1000 (t in [0, 1]) -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1.0 + scale[:, None, :]) + shift[:, None, :]


class Attention(nn.Module):
    """Multi-head attention, plain matmul + softmax; bias [B, 1, 1, Tk] is added to the scores."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, tq, d = x.shape
        tk = memory.shape[1]
        q = self.q(x).reshape(b, tq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(memory).reshape(b, tk, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(memory).reshape(b, tk, self.heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        if bias is not None:
            scores = scores + bias
        attn = self.drop(torch.softmax(scores, dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, tq, d)
        return self.o(out)


class DiTBlock(nn.Module):
    """Self-attention, cross-attention, MLP; each pre-normed and adaLN-Zero modulated by c."""

    def __init__(self, d: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.self_attn = Attention(d, heads, dropout)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.cross_attn = Attention(d, heads, dropout)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
                                 nn.Linear(hidden, d))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 9 * d))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, memory: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        s1, sc1, g1, s2, sc2, g2, s3, sc3, g3 = self.modulation(c).chunk(9, dim=-1)
        h = _modulate(self.norm1(x), s1, sc1)
        x = x + g1[:, None, :] * self.self_attn(h, h)
        x = x + g2[:, None, :] * self.cross_attn(_modulate(self.norm2(x), s2, sc2), memory, bias)
        x = x + g3[:, None, :] * self.mlp(_modulate(self.norm3(x), s3, sc3))
        return x


class FlowMatchingHead(nn.Module):
    """Velocity network v(x_t, t | features, state) and its flow-matching loss and sampler."""

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.d_model
        self.feature_norm = nn.LayerNorm(cfg.feature_dim)
        self.feature_proj = nn.Linear(cfg.feature_dim, d)
        self.memory_position = nn.Embedding(cfg.memory_positions, d) if cfg.memory_positions > 0 else None
        if self.memory_position is not None:
            nn.init.normal_(self.memory_position.weight, std=0.02)
        self.image_encoder = (ImageEncoder(cfg.image_size, cfg.image_channels, d, cfg.num_cameras)
                              if cfg.uses_images else None)
        if cfg.uses_images:
            self.pointer_query = nn.Parameter(torch.randn(1, 1, d) * 0.1)
            self.lang_pool = Attention(d, cfg.num_heads)
            self.select_q, self.select_k, self.select_v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
            self.pointer_norm = nn.LayerNorm(d)
            self.film = nn.Linear(d, 2 * cfg.image_channels[1])
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.state_proj = nn.Sequential(nn.Linear(cfg.state_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.action_in = nn.Linear(cfg.action_dim, d)
        self.position = nn.Parameter(torch.randn(1, cfg.horizon + 1, d) * 0.02)  # state token + H actions
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.num_heads, cfg.mlp_ratio, cfg.dropout)
                                    for _ in range(cfg.num_layers))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.action_out = nn.Linear(d, cfg.action_dim)
        self.aux_out = nn.Linear(d, cfg.aux_dim) if cfg.aux_dim > 0 else None
        if cfg.uses_images:
            self.slot_queries = nn.Parameter(torch.randn(1, cfg.object_slots, d) * 0.1)
            self.slot_attn = Attention(d, cfg.num_heads)
            self.slot_norm = nn.LayerNorm(d)
            self.aux_image_out = nn.Linear(d, 2) if cfg.aux_image_points > 0 else None
        for layer in (self.final_modulation[1], self.action_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    # ------------------------------------------------------------------ network
    def encode_context(self, features: torch.Tensor, feature_mask: torch.Tensor,
                       images: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(memory [B, T(+image tokens), d], attention bias [B, 1, 1, T']); computed once per chunk."""
        memory = self.feature_proj(self.feature_norm(features.float()))
        if self.memory_position is not None:
            index = torch.cumsum(feature_mask.float(), dim=1) - 1.0  # 0 at the first real token
            index = index.clamp(0, self.config.memory_positions - 1).long()
            memory = memory + self.memory_position(index)
        bias = (1.0 - feature_mask.float())[:, None, None, :] * MASK_NEG
        if self.image_encoder is not None:
            if images is None:
                raise ValueError("this head reads camera images (config.image_size > 0): pass images=")
            # The instruction, pooled from the backbone memory by a learned query, FiLM-conditions the
            # image encoder. Object slots (learned queries over the image tokens; with sim labels each
            # is trained to hold one object's position) summarise the scene, and the pooled
            # instruction picks among them by attention: the "pointer" token, i.e. where the thing
            # the instruction names is. Slots and pointer join the memory.
            lang = self.pointer_query.expand(memory.shape[0], -1, -1)
            lang = lang + self.lang_pool(lang, memory, bias)
            tokens = self.image_encoder(images, self.film(lang[:, 0]))
            slots = self.slot_queries.expand(tokens.shape[0], -1, -1)
            slots = self.slot_norm(slots + self.slot_attn(slots, tokens))
            # Single-head selection: which slot does the instruction name (logits kept for the
            # auxiliary slot-choice loss), then that slot's content.
            scale = 1.0 / math.sqrt(self.config.d_model)
            logits = torch.matmul(self.select_q(lang), self.select_k(slots).transpose(1, 2)) * scale
            pointer = self.pointer_norm(lang + torch.matmul(torch.softmax(logits, dim=-1), self.select_v(slots)))
            self._last_slots, self._last_pointer, self._last_slot_logits = slots, pointer[:, 0], logits[:, 0]
            tokens = torch.cat([tokens, slots], dim=1)
            extra = torch.cat([tokens, pointer], dim=1)
            memory = torch.cat([memory, extra], dim=1)
            bias = torch.cat([bias, torch.zeros_like(bias[..., :1]).expand(-1, -1, -1, extra.shape[1])], dim=-1)
        return memory, bias

    def velocity(self, noisy_actions: torch.Tensor, t: torch.Tensor, memory: torch.Tensor, bias: torch.Tensor,
                 state: torch.Tensor) -> torch.Tensor:
        """Velocity [B, H, Da] at (x_t, t) for an already encoded context."""
        return self._run(noisy_actions, t, memory, bias, state)[0]

    def _run(self, noisy_actions, t, memory, bias, state) -> tuple[torch.Tensor, torch.Tensor]:
        """(velocity, final state token [B, d])."""
        c = self.time_mlp(timestep_embedding(t, self.config.d_model))
        tokens = torch.cat([self.state_proj(state.float())[:, None, :], self.action_in(noisy_actions.float())], dim=1)
        x = tokens + self.position
        for block in self.blocks:
            x = block(x, c, memory, bias)
        shift, scale = self.final_modulation(c).chunk(2, dim=-1)
        out = self.action_out(_modulate(self.final_norm(x[:, 1:]), shift, scale))
        return out, x[:, 0]

    def forward(self, noisy_actions: torch.Tensor, t: torch.Tensor, features: torch.Tensor,
                feature_mask: torch.Tensor, state: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """One denoiser step (the graph `export onnx --kind step` writes)."""
        memory, bias = self.encode_context(features, feature_mask, images)
        return self.velocity(noisy_actions, t, memory, bias, state)

    # ------------------------------------------------------------------ flow matching
    def sample_time(self, batch: int, generator: torch.Generator | None = None,
                    device: torch.device | None = None) -> torch.Tensor:
        """Training times t = s * (1 - u), u ~ Beta(alpha, beta): in [0, s], denser near t = 0 (noise)."""
        cfg = self.config
        # Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b): torch._standard_gamma takes no
        # generator, so draw through the inverse CDF of Beta(a, 1) when b == 1 (the default).
        if cfg.beta_beta == 1.0:
            u = torch.rand(batch, generator=generator, device=device) ** (1.0 / cfg.beta_alpha)
        else:
            dist = torch.distributions.Beta(torch.tensor(float(cfg.beta_alpha)), torch.tensor(float(cfg.beta_beta)))
            u = dist.sample((batch,)).to(device)
        return cfg.time_scale_s * (1.0 - u)

    def loss(self, actions: torch.Tensor, features: torch.Tensor, feature_mask: torch.Tensor, state: torch.Tensor,
             generator: torch.Generator | None = None, reduction: str = "mean",
             images: torch.Tensor | None = None) -> torch.Tensor:
        """Flow-matching loss: MSE between predicted and true velocity (actions already normalised)."""
        return self.loss_terms(actions, features, feature_mask, state, generator, reduction, images)["flow"]

    def loss_terms(self, actions: torch.Tensor, features: torch.Tensor, feature_mask: torch.Tensor,
                   state: torch.Tensor, generator: torch.Generator | None = None, reduction: str = "mean",
                   images: torch.Tensor | None = None, aux_target: torch.Tensor | None = None,
                   aux_points: torch.Tensor | None = None, aux_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """{"flow": flow-matching loss, "aux": MSE of the target readout (when aux_target is given),
        "aux_image": MSE of the slot readout of aux_points [B, P, 2], "aux_select": cross-entropy of
        the pointer's slot choice against aux_index [B] (the slot of the named object), when given}."""
        b = actions.shape[0]
        noise = torch.randn(actions.shape, generator=generator, device=actions.device)
        t = self.sample_time(b, generator, actions.device)
        tt = t[:, None, None]
        x_t = (1.0 - tt) * noise + tt * actions
        target = actions - noise
        memory, bias = self.encode_context(features, feature_mask, images)
        pred, state_token = self._run(x_t, t, memory, bias, state)
        err = (pred - target) ** 2
        out = {"flow": err.mean() if reduction == "mean" else err.mean(dim=(1, 2))}
        if aux_target is not None:
            if self.aux_out is None:
                raise ValueError("aux_target given but the head has no auxiliary output (HeadConfig.aux_dim = 0)")
            source = self._last_pointer if self.image_encoder is not None else state_token
            aux = ((self.aux_out(source) - aux_target.float()) ** 2).mean(dim=-1)
            out["aux"] = aux.mean() if reduction == "mean" else aux
        if aux_points is not None:
            if self.config.aux_image_points <= 0:
                raise ValueError("aux_points given but the head has no image readout (HeadConfig.aux_image_points = 0)")
            pts = self.aux_image_out(self._last_slots[:, : aux_points.shape[1]])  # slot i holds point i
            err = ((pts - aux_points.float()) ** 2).mean(dim=(1, 2))
            out["aux_image"] = err.mean() if reduction == "mean" else err
        if aux_index is not None:
            if self.image_encoder is None:
                raise ValueError("aux_index needs the head's image encoder (object slots)")
            ce = nn.functional.cross_entropy(self._last_slot_logits, aux_index.long(), reduction="none")
            out["aux_select"] = ce.mean() if reduction == "mean" else ce
        return out

    def sample(self, features: torch.Tensor, feature_mask: torch.Tensor, state: torch.Tensor,
               noise: torch.Tensor, num_steps: int | None = None, images: torch.Tensor | None = None) -> torch.Tensor:
        """Euler integration from noise (t = 0) to actions (t = 1): [B, H, Da] (normalised)."""
        steps = int(num_steps or self.config.num_steps)
        memory, bias = self.encode_context(features, feature_mask, images)
        x = noise.float()
        dt = 1.0 / steps
        for k in range(steps):
            t = torch.full((x.shape[0],), k * dt, dtype=torch.float32, device=x.device)
            x = x + dt * self.velocity(x, t, memory, bias, state)
        return x

    # ------------------------------------------------------------------ saving
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> FlowMatchingHead:
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder} lacks {name}: not an action head written by save_pretrained")
        verify_safetensors(folder / WEIGHTS_FILE)
        head = cls(HeadConfig.from_dict(read_json(folder / CONFIG_FILE)))
        state = load_file(str(folder / WEIGHTS_FILE))
        missing, unexpected = head.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        if missing or unexpected:
            raise ValueError(f"{folder}/{WEIGHTS_FILE} does not match its config: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        return head.to(device).eval()


class FlowSampler(nn.Module):
    """The whole sampler as one graph (noise given as an input, so backends can be compared):
    (features, feature_mask, state, noise[, images]) -> normalised actions. `export onnx --kind sampler`."""

    def __init__(self, head: FlowMatchingHead, num_steps: int | None = None):
        super().__init__()
        self.head = head
        self.num_steps = int(num_steps or head.config.num_steps)

    def forward(self, features: torch.Tensor, feature_mask: torch.Tensor, state: torch.Tensor,
                noise: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        return self.head.sample(features, feature_mask, state, noise, self.num_steps, images)
