"""The transformer zoo against the reference implementations, written by hand in
reference_transformers: parameters, MACs counted by hooks (linear layers, convolutions, and
attention's projections and two L x L matmuls) equal check's at the published size on the
meta device; the reference's weights load (load_weights' rule 3 for ViT's class token and
position table) and compute the same at a small size, in torch and in ONNX Runtime."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archlang

from . import reference_transformers as ref
from .test_zoo import assert_onnx_runtime_agrees

# name: (reference, parameters, MACs as published or derived)
ZOO = {
    "vit_b_16": (ref.vit_b_16, 86_567_656, 17_563_828_224),
    "vit_b_32": (ref.vit_b_32, 88_224_232, 4_409_186_304),
    "vit_l_16": (ref.vit_l_16, 304_326_632, 61_554_712_576),
    # 12 x (12LD^2 + 2L^2D) + the tied output layer's L x D x 50257, L = 1024
    "gpt2": (ref.GPT, 124_439_808, 145_824_153_600),
    # 12 x (12LD^2 + 2L^2D) + the pooler's D^2, L = 512
    "bert_base": (ref.BertModel, 109_482_240, 48_318_971_904),
}

LAYOUT = {
    "vit_b_16": {"class_token": (1, 1, 768), "conv_proj.weight": (768, 3, 16, 16), "encoder.pos_embedding": (1, 197, 768),
                 "encoder.layers.encoder_layer_11.self_attention.in_proj_weight": (2304, 768),
                 "encoder.layers.encoder_layer_0.mlp.3.weight": (768, 3072), "heads.head.weight": (1000, 768)},
    "vit_b_32": {"encoder.pos_embedding": (1, 50, 768), "conv_proj.weight": (768, 3, 32, 32)},
    "vit_l_16": {"encoder.layers.encoder_layer_23.ln_2.weight": (1024,), "heads.head.weight": (1000, 1024)},
    "gpt2": {"transformer.wte.weight": (50257, 768), "transformer.wpe.weight": (1024, 768),
             "transformer.h.11.attn.c_attn.weight": (2304, 768), "transformer.h.0.mlp.c_proj.weight": (768, 3072),
             "transformer.ln_f.bias": (768,), "lm_head.weight": (50257, 768)},
    "bert_base": {"embeddings.word_embeddings.weight": (30522, 768), "embeddings.token_type_embeddings.weight": (2, 768),
                  "encoder.layer.11.attention.self.value.weight": (768, 768),
                  "encoder.layer.0.output.LayerNorm.bias": (768,), "pooler.dense.weight": (768, 768)},
}


def trained_looking(reference: nn.Module) -> nn.Module:
    """Layer norms as training leaves them (scales near 1, small shifts), not at their 1 and
    0 start, so that loading them into the wrong place would show in the outputs."""
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return reference


def hooked_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Per example: convolutions and linear layers as test_zoo counts them, and each
    nn.MultiheadAttention's in and out projections (3LD^2 + LD^2, which it computes without
    calling its Linear) and its two matmuls, QK^T and weights x V, over the full L x L."""
    total = 0
    batch = (x[0] if isinstance(x, tuple) else x).shape[0]

    def count(m, inputs, out):
        nonlocal total
        if isinstance(m, nn.MultiheadAttention):
            length, d = inputs[0].shape[1], m.embed_dim
            total += 4 * length * d * d + 2 * length * length * d
        elif isinstance(m, ref.CausalSelfAttention):  # its projections are Linear layers, hooked apart
            length, d = inputs[0].shape[1], m.n_embd
            total += 2 * length * length * d
        elif isinstance(m, ref.BertSelfAttention):
            length, d = inputs[0].shape[1], m.query.in_features
            total += 2 * length * length * d
        elif isinstance(m, nn.Linear):
            total += out.numel() // batch * m.in_features
        else:
            total += out.numel() // batch * m.in_channels // m.groups * math.prod(m.kernel_size)

    hooks = [m.register_forward_hook(count) for m in module.modules()
             if isinstance(m, (nn.Linear, nn.Conv2d, nn.MultiheadAttention, ref.CausalSelfAttention, ref.BertSelfAttention))
             and not isinstance(m, nn.modules.linear.NonDynamicallyQuantizableLinear)]
    try:
        with torch.no_grad():
            module(*x) if isinstance(x, tuple) else module(x)
    finally:
        for h in hooks:
            h.remove()
    return total


@pytest.mark.parametrize("name", ZOO)
def test_parameters_and_macs_equal_the_reference(name):
    make_reference, params, macs = ZOO[name]
    net = archlang.load(name).network()
    assert (net.total_params, net.total_macs) == (params, macs)
    with torch.device("meta"):
        reference = make_reference().eval()
        x = tuple(torch.zeros(1, *t.shape, dtype=torch.long) if t.ids else torch.empty(1, *t.shape) for _, t in net.inputs)
        assert hooked_macs(reference, x if len(x) > 1 else x[0]) == macs
    assert sum(p.numel() for p in reference.parameters()) == params  # a tied tensor once
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: shapes.get(k) for k in LAYOUT[name]} == LAYOUT[name]


def test_vit_with_the_reference_weights_computes_the_same(tmp_path):
    """ViT's blocks at a small size (32x32 images, 16x16 patches: 5 tokens; width 64, 2
    blocks of 4 heads): torchvision's state_dict loads into the built module (its class
    token and position table by rule 3) and both give the same outputs, in torch and in
    ONNX Runtime."""
    torch.manual_seed(0)
    reference = ref.VisionTransformer(32, 16, 2, 4, 64, 128, num_classes=10).eval()
    trained_looking(reference)
    with torch.no_grad():
        reference.class_token.normal_()
        for m in reference.modules():
            if isinstance(m, nn.MultiheadAttention):
                m.in_proj_bias.uniform_(-0.1, 0.1)
    net = archlang.parse('use "vit"\nnetwork small : 3x32x32 -> 10 = vit(16, 64, 2, 4, 128, classes=10)').network()
    built = archlang.build(net, seed=1)
    archlang.load_weights(built, reference.state_dict())
    built.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected, got = reference(x), built(x)
    assert (got - expected).abs().max().item() <= 1e-5
    assert_onnx_runtime_agrees(built, x, got, tmp_path / "vit.onnx", atol=1e-5, rtol=1e-4)


def test_gpt_with_the_reference_weights_computes_the_same_and_stays_causal(tmp_path):
    """GPT-2's blocks at a small size (vocabulary 50, context 16, width 32, 2 blocks of 4
    heads): nanoGPT's state_dict, tied weight listed twice, loads in order; the outputs
    agree in torch, and in ONNX Runtime at the full and at a shorter length (the token axis is
    dynamic); the output layer shares the embedding's tensor; a later token never changes
    an earlier output."""
    torch.manual_seed(0)
    reference = ref.GPT(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32).eval()
    trained_looking(reference)
    net = archlang.parse('use "gpt2"\nnetwork small : [16] = gpt(50, 16, 32, 2, 4)').network()
    built = archlang.build(net, seed=1)
    archlang.load_weights(built, reference.state_dict())
    built.eval()
    (node,) = [n for n in net.graph.layers if n.op.ties()]
    assert built.get_submodule(node.name).weight is built.get_submodule(node.op.tied).weight
    x = torch.randint(0, 50, (3, 16))
    with torch.no_grad():
        expected, got = reference(x), built(x)
        assert (got - expected).abs().max().item() <= 1e-5
        later = x.clone()
        later[:, 9] = (later[:, 9] + 1) % 50
        changed = built(later)
    assert torch.equal(changed[:, :9], got[:, :9]) and not torch.allclose(changed[:, 9:], got[:, 9:])
    assert_onnx_runtime_agrees(built, x, got, tmp_path / "gpt.onnx", atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        shorter = reference(x[:, :9])
    assert_onnx_runtime_agrees(built, x[:, :9], shorter, tmp_path / "gpt9.onnx", atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name, reference, x", [
    ("lstm_forecaster", ref.LSTMForecaster, lambda: torch.randn(2, 48, 8)),
    ("gru_classifier", ref.GRUClassifier, lambda: torch.randint(0, 20000, (2, 256))),
])
def test_recurrent_networks_load_a_hand_written_models_weights(name, reference, x, tmp_path):
    """specs/recurrent.arch against the modules a user writes with nn.LSTM and nn.GRU: the
    same parameters, in the same order; the same outputs in torch and ONNX Runtime."""
    torch.manual_seed(0)
    model = reference().eval()
    net = archlang.load(name).network()
    assert sum(p.numel() for p in model.parameters()) == net.total_params
    built = archlang.build(net, seed=1)
    archlang.load_weights(built, model.state_dict())
    built.eval()
    inputs = x()
    with torch.no_grad():
        expected, got = model(inputs), built(inputs)
    assert (got - expected).abs().max().item() <= 1e-5
    assert_onnx_runtime_agrees(built, inputs, got, tmp_path / f"{name}.onnx", atol=1e-5, rtol=1e-4)


def test_bert_with_the_reference_weights_computes_the_same(tmp_path):
    """BERT's embeddings, post-norm layers and pooler at a small size (vocabulary 50, 16
    positions, width 32, 2 layers of 4 heads), two inputs and two outputs: Hugging Face's
    state_dict layout loads in order (query, key and value apart) and both outputs agree,
    in torch and in ONNX Runtime."""
    import numpy as np

    from archlang.benchmark import ort_session

    torch.manual_seed(0)
    reference = ref.BertModel(vocab=50, positions=16, width=32, depth=2, heads=4).eval()
    trained_looking(reference)
    net = archlang.parse('use "bert"\nnetwork small(ids : [16], types : [16]) =\n'
                         '    (ids, types) -> bert_embeddings(50, 16, 32) -> bert_layer(4) * 2 as sequence\n'
                         '    -> (sequence, pooler as pooled)').network()
    assert [name for name, _ in net.outputs] == ["sequence", "pooled"]
    built = archlang.build(net, seed=1)
    archlang.load_weights(built, reference.state_dict())
    built.eval()
    ids, types = torch.randint(0, 50, (3, 16)), torch.randint(0, 2, (3, 16))
    with torch.no_grad():
        expected, got = reference(ids, types), built(ids, types)
    for e, g in zip(expected, got):
        assert (g - e).abs().max().item() <= 1e-5
    session = ort_session(archlang.export_onnx(built).SerializeToString(), threads=1)
    outs = session.run(None, {"ids": ids.numpy(), "types": types.numpy()})
    for o, g in zip(outs, got):
        np.testing.assert_allclose(o, g.numpy(), atol=1e-5, rtol=1e-4)
