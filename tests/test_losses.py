"""Distillation losses, tests generated from the registry (docs/design.md, convention 9)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lrface.distill import LOSSES, CompositeLoss, LossContext, StreamOut, build_losses, create_loss, list_losses
from lrface.distill.losses.memory import MomentumBank

N, DS, DT, DA, K, NS = 8, 16, 24, 12, 5, 32
REQUIRED = {"kd", "mimic", "fitnet", "rkd", "sp", "crd", "askd", "horkd", "crrcd"}
# small sizes so the memory-bank losses stay tiny and fast
SMALL = {"crd": {"num_negatives": 8, "feat_dim": 16},
         "crrcd": {"num_negatives": 8, "num_pairs": 12, "rel_dim": 16, "hidden": 32}}
# losses whose value is (near) zero when the student equals the teacher, and why others are not
ZERO = {"mimic", "kd", "rkd", "sp", "askd", "horkd"}
NOT_ZERO = {
    "fitnet": "the 1x1-conv+BN regressor is randomly initialised, so r(F) != F",
    "crd": "a contrastive (InfoNCE) loss is >= 0 and only ~0 when negatives are far; equal inputs do not make it 0",
    "crrcd": "contrastive over learned relation vectors; equal inputs do not make it 0",
}
ALL_NAMES = list_losses()


def _is_identity(name: str) -> bool:
    from lrface.distill.losses.identity import IdentityLoss

    return issubclass(LOSSES.get(name), IdentityLoss)


def _stream(dim, chans, sizes, grad=True):
    taps = {f"stage{i}": torch.randn(N, c, s, s, requires_grad=grad) for i, (c, s) in enumerate(zip(chans, sizes), 1)}
    return StreamOut(torch.randn(N, dim, requires_grad=grad), taps)


def _context(ds=DS, dt=DT, da=DA, s_ch=(8, 12), t_ch=(16, 20), a_ch=(10, 14)):
    return LossContext(student_dim=ds, teacher_dim=dt, assistant_dim=da,
                       student_taps={"stage1": s_ch[0], "stage2": s_ch[1]},
                       teacher_taps={"stage1": t_ch[0], "stage2": t_ch[1]},
                       assistant_taps={"stage1": a_ch[0], "stage2": a_ch[1]},
                       num_samples=NS, num_classes=K, centroids=F.normalize(torch.randn(K, dt), dim=1))


@pytest.fixture
def batch():
    torch.manual_seed(0)
    # LR student maps are smaller than the HR teacher's, and channels differ
    s = _stream(DS, (8, 12), (8, 4))
    t = _stream(DT, (16, 20), (16, 7))
    a = _stream(DA, (10, 14), (16, 7))
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, -1])
    index = torch.arange(10, 10 + N)
    return s, t, a, labels, index


def _make(name, ctx=None):
    return create_loss(name, ctx or _context(), **SMALL.get(name, {}))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_finite_and_terms_sum(name, batch):
    s, t, a, labels, index = batch
    total, terms = _make(name)(s, t, a, labels=labels, index=index)
    assert total.dim() == 0 and torch.isfinite(total)
    assert terms and all(torch.isfinite(v) and not v.requires_grad for v in terms.values())
    assert torch.allclose(sum(terms.values()), total.detach(), atol=1e-5)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradients(name, batch):
    s, t, a, labels, index = batch
    loss = _make(name)
    total, _ = loss(s, t, a, labels=labels, index=index)
    total.backward()
    student_grads = [x.grad for x in [s.embedding, *s.taps.values()] if x.grad is not None]
    assert student_grads and any(g.abs().sum() > 0 for g in student_grads), "no gradient reached the student"
    assert all(torch.isfinite(g).all() for g in student_grads)
    for x in [t.embedding, *t.taps.values(), a.embedding, *a.taps.values()]:
        assert x.grad is None, "teacher/assistant tensors must be detached"
    for pname, p in loss.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"learnable {pname} got no gradient"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_perfect_student_gives_zero(name):
    if name in NOT_ZERO:
        pytest.skip(f"{name}: {NOT_ZERO[name]}")
    if _is_identity(name):
        pytest.skip(f"{name}: a classification loss on labels, not a student-teacher distance")
    assert name in ZERO
    torch.manual_seed(1)
    ctx = _context(ds=DT, dt=DT, da=DT, s_ch=(16, 20), t_ch=(16, 20), a_ch=(16, 20))
    same = _stream(DT, (16, 20), (16, 7))
    total, _ = _make(name, ctx)(same, same, same, index=torch.arange(N))
    assert abs(total.item()) < 1e-5


@pytest.mark.parametrize("name", ["fitnet", "askd", "sp", "rkd"])
@pytest.mark.parametrize("tap", ["stage1", "stage2", "last"])
def test_tap_shapes_either_way(name, tap):
    """Student maps larger than, smaller than, or equal to the teacher's; channels differ."""
    if name == "rkd" and tap == "stage1":
        tap = "embedding"
    torch.manual_seed(2)
    ctx = _context(s_ch=(8, 12), t_ch=(6, 20))
    s = _stream(DS, (8, 12), (8, 5))  # stage1 larger than teacher's, stage2 smaller
    t = _stream(DT, (6, 20), (4, 7))
    key = {"askd": "taps"}.get(name, "tap")
    loss = create_loss(name, ctx, **{key: tap})
    total, _ = loss(s, t)
    assert torch.isfinite(total)


def test_list_losses_has_required_and_pattern():
    assert REQUIRED <= set(list_losses())
    assert "arcface" in list_losses() and "identity" in list_losses()
    assert set(list_losses("*kd")) >= {"kd", "askd", "horkd"}


def test_composite_naming_and_weighting(batch):
    s, t, a, labels, index = batch
    comp = build_losses({"rkd": {"weight": 2.0, "distance_weight": 25},
                         "mimic": {"weight": 0.5, "kind": "l2"},
                         "fit2": {"loss": "fitnet", "tap": "stage2"}}, _context())
    assert isinstance(comp, CompositeLoss)
    total, terms = comp(s, t, a, labels=labels, index=index)
    assert set(terms) == {"rkd/distance", "rkd/angle", "mimic/l2", "fit2/hint", "total"}
    expected = 2.0 * comp.terms_of["rkd"](s, t)[0] + 0.5 * comp.terms_of["mimic"](s, t)[0] \
        + comp.terms_of["fit2"](s, t)[0]
    assert torch.allclose(total, expected, atol=1e-5)
    parts = sum(v for k, v in terms.items() if k != "total")
    assert torch.allclose(parts, terms["total"], atol=1e-5)
    _, rkd_terms = comp.terms_of["rkd"](s, t)
    assert torch.allclose(terms["rkd/angle"], 2.0 * rkd_terms["angle"])
    # the composite's parameters include every loss's learnable adapters (for the optimizer)
    assert sum(p.numel() for p in comp.parameters()) > 0


def test_horkd_links_and_assistant_training(batch):
    s, t, a, _, _ = batch
    loss = _make("horkd")
    _, terms = loss(s, t, a)
    assert set(terms) == {f"{x}/{o}" for x in "ta" for o in ("first", "second", "third")}
    _, terms = loss(s, t)
    assert set(terms) == {"t/first", "t/second", "t/third"}
    # the assistant trained against the teacher: same class, assistant as the student
    a_loss = create_loss("horkd", _context().for_assistant())
    total, _ = a_loss(a, t)
    total.backward()
    assert a.embedding.grad is not None and t.embedding.grad is None


def test_kd_uses_centroids():
    ctx = _context()
    loss = create_loss("kd", ctx)
    assert loss.centroids.shape == (K, DT)
    assert torch.allclose(loss.centroids.norm(dim=1), torch.ones(K))
    with pytest.raises(TypeError, match="centroids"):
        create_loss("kd", LossContext(student_dim=DS))


def test_bad_config_errors(batch):
    with pytest.raises(KeyError, match="Did you mean 'rkd'"):
        build_losses({"rkdd": {}}, _context())
    with pytest.raises(TypeError, match="distance_wieght.*distance_weight"):
        build_losses({"rkd": {"distance_wieght": 1.0}}, _context())
    with pytest.raises(TypeError, match="bogus"):
        build_losses({"arcface": {"bogus": 1.0}}, _context())
    with pytest.raises(ValueError, match="kind"):
        create_loss("mimic", _context(), kind="l3")
    s, t, a, labels, _ = batch
    for name in ("crd", "crrcd"):
        with pytest.raises(ValueError, match="index"):
            _make(name)(s, t)
    with pytest.raises(ValueError, match="labels"):
        _make("arcface")(s, t)


def test_identity_ignores_unlabelled(batch):
    s, t, _, _, _ = batch
    loss = _make("arcface")
    total, _ = loss(s, t, labels=torch.full((N,), -1))
    assert total.item() == 0.0
    total.backward()  # still differentiable
    part, _ = loss(s, t, labels=torch.tensor([0, 1, -1, -1, -1, -1, -1, -1]))
    full = F.cross_entropy(loss.head(s.embedding[:2], torch.tensor([0, 1])), torch.tensor([0, 1]))
    assert torch.allclose(part, full)


def test_bank_update_keyed_by_index():
    torch.manual_seed(3)
    bank = MomentumBank(10, 4, momentum=0.5)
    old = bank.memory.clone()
    v = F.normalize(torch.randn(2, 4), dim=1)
    bank.update(torch.tensor([7, 2]), v)
    assert torch.allclose(bank.memory[7], F.normalize(0.5 * old[7] + 0.5 * v[0], dim=0))
    assert torch.allclose(bank.memory[2], F.normalize(0.5 * old[2] + 0.5 * v[1], dim=0))
    others = [i for i in range(10) if i not in (2, 7)]
    assert torch.equal(bank.memory[others], old[others])

    # sampled negatives: the mask marks exactly the slots equal to each row's own index
    bank = MomentumBank(5, 5)
    bank.memory.copy_(torch.eye(5))
    exclude = torch.tensor([1, 3])
    vecs, mask = bank.sample(2, 40, exclude)
    assert vecs.shape == (2, 40, 5) and mask.shape == (2, 40)
    assert torch.equal(mask, vecs.argmax(2) == exclude[:, None])


@pytest.mark.parametrize("name", ["rkd", "horkd", "sp", "mimic", "kd"])
def test_duplicate_samples_keep_gradients_finite(name):
    """Zero distances (the same face twice in a batch) must not produce NaN gradients."""
    torch.manual_seed(6)
    e = torch.randn(N, DT)
    e[3] = e[1]
    s = StreamOut(e.clone().requires_grad_())
    total, _ = _make(name, _context(ds=DT))(s, StreamOut(e.clone()), StreamOut(torch.randn(N, DA)))
    total.backward()
    assert torch.isfinite(s.embedding.grad).all()


def test_crd_banks_same_index_same_slot(batch):
    s, t, _, _, index = batch
    loss = _make("crd").train()
    old_s, old_t = loss.bank_s.memory.clone(), loss.bank_t.memory.clone()
    loss(s, t, index=index)
    vs = F.normalize(loss.embed_s(s.embedding), dim=1).detach()
    expected = F.normalize(0.5 * old_s[index] + 0.5 * vs, dim=1)
    assert torch.allclose(loss.bank_s.memory[index], expected, atol=1e-6)
    untouched = torch.ones(NS, dtype=torch.bool)
    untouched[index] = False
    assert torch.equal(loss.bank_t.memory[untouched], old_t[untouched])
    # the same samples in another order land in the same slots
    perm = torch.randperm(N)
    before = loss.bank_s.memory.clone()
    loss(StreamOut(s.embedding[perm]), StreamOut(t.embedding[perm]), index=index[perm])
    vs = F.normalize(loss.embed_s(s.embedding), dim=1).detach()
    assert torch.allclose(loss.bank_s.memory[index], F.normalize(0.5 * before[index] + 0.5 * vs, dim=1), atol=1e-6)
    frozen = loss.bank_s.memory.clone()
    loss.eval()(s, t, index=index)
    assert torch.equal(loss.bank_s.memory, frozen), "eval mode must not update the banks"


def test_crrcd_bank_keyed_by_second_element(batch):
    s, t, _, _, index = batch
    torch.manual_seed(4)
    loss = _make("crrcd").train()
    old = loss.bank.memory.clone()
    loss(s, t, index=index)
    changed = (loss.bank.memory != old).any(1).nonzero().flatten()
    assert len(changed) > 0 and set(changed.tolist()) <= set(index.tolist())
    # replay the same pair sampling: slot index[j] holds the momentum update of r_tt(i, j)
    from lrface.distill.losses.crrcd import sample_pairs

    torch.manual_seed(5)
    loss.bank.memory.copy_(old)
    i, j = sample_pairs(N, loss.num_pairs, torch.device("cpu"))
    torch.manual_seed(5)
    loss(s, t, index=index)
    r_tt = F.normalize(loss.g_tt(t.embedding[i] - t.embedding[j]), dim=1).detach()
    last = {int(jj): m for m, jj in enumerate(j)}  # with repeated j one update wins
    for jj, m in last.items():
        expect = F.normalize(0.5 * old[index[jj]] + 0.5 * r_tt[m], dim=0)
        if (j == jj).sum() == 1:
            assert torch.allclose(loss.bank.memory[index[jj]], expect, atol=1e-6)


def test_mimic_mse_compares_raw_embeddings_length_included():
    t = torch.randn(6, 16)
    s = t.clone().requires_grad_(True)
    loss = create_loss("mimic", _context(ds=16, dt=16), kind="mse")
    value, terms = loss(StreamOut(embedding=s), StreamOut(embedding=t))
    assert value.item() == 0 and set(terms) == {"mse"}
    # twice as long, same direction: cosine would not see it, the squared distance does
    value, _ = loss(StreamOut(embedding=2 * t), StreamOut(embedding=t))
    assert value.item() == pytest.approx(float(t.pow(2).sum(1).mean()), rel=1e-5)
