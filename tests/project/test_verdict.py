"""Every failure is explained in the learner's terms (gpt2lab/verdict.py), without the answer."""

import re
import string

import pytest
import torch
from torch import nn

from gpt2lab import i18n
from gpt2lab.verdict import (AdamSlack, KataFailure, KnownShape, Mistake, expect_close, expect_equal,
                             expect_loadable, expect_tensor, explain_shape, fail)


def failure(check, *args, **kwargs) -> KataFailure:
    with pytest.raises(KataFailure) as caught:
        check(*args, **kwargs)
    return caught.value


# -- shapes ----------------------------------------------------------------------------------------


def test_sequence_and_head_axes_swapped():
    why = explain_shape((2, 5, 12, 64), (2, 12, 5, 64))
    assert "axis is swapped" in why and "[1, 2]" in why and "transpose/permute" in why


def test_heads_not_merged_is_named_by_the_suites_hint():
    hints = {(2, 12, 5, 64): "the heads are not merged back: merge_heads before c_proj"}
    expected = torch.zeros(2, 5, 768)
    error = failure(expect_close, torch.zeros(2, 12, 5, 64), expected, case="attention", what="forward",
                    atol=1e-5, rtol=0, shape_hints=hints)
    assert str(error) == ("case: attention\nforward has the wrong shape\n  expected (2, 5, 768), got (2, 12, 5, 64)\n"
                          "  likely cause: the heads are not merged back: merge_heads before c_proj")


def test_a_known_wrong_shape_names_its_mistake():
    hints = {(2, 1, 50): KnownShape("logits of the last position only", "every position's logits: (B, T, V)")}
    error = failure(expect_close, torch.zeros(2, 1, 50), torch.zeros(2, 7, 50), case="c", what="the logits",
                    atol=1e-4, rtol=0, shape_hints=hints)
    assert error.diagnosis == "logits of the last position only"
    assert str(error).endswith("expected (2, 7, 50), got (2, 1, 50)\n  this looks like a classic mistake: logits "
                               "of the last position only\n  hint: every position's logits: (B, T, V)")


def test_same_values_in_another_layout_and_unrelated_shapes():
    assert "split or merged" in explain_shape((2, 60, 64), (2, 5, 768))
    assert "axis by axis" in explain_shape((2, 5), (2, 5, 768))


def test_not_a_tensor_or_no_return():
    error = failure(expect_tensor, None, torch.zeros(3), case="c", what="gelu(x)")
    assert "gelu(x) returned NoneType" in str(error) and "forget a `return`" in str(error)
    error = failure(expect_tensor, [1.0, 2.0, 3.0], torch.zeros(3), case="c", what="gelu(x)")
    assert "returned list" in str(error) and "return" not in str(error).split("\n")[-1]


def test_dtype_and_device():
    error = failure(expect_tensor, torch.zeros(3, dtype=torch.float64), torch.zeros(3), case="c", what="y")
    assert "dtype torch.float64, expected torch.float32" in str(error)
    error = failure(expect_tensor, torch.zeros(3, device="meta"), torch.zeros(3), case="c", what="y")
    assert "y is on meta, but the input was on cpu" in str(error) and "device=x.device" in str(error)


# -- values ----------------------------------------------------------------------------------------


def test_close_enough_passes_and_tolerance_is_atol_plus_rtol():
    expected = torch.tensor([1.0, -2.0, 100.0])
    expect_close(expected + torch.tensor([1e-6, -1e-6, 9e-4]), expected, case="c", what="y", atol=2e-6, rtol=1e-5)
    with pytest.raises(KataFailure):
        expect_close(expected + torch.tensor([0.0, 0.0, 2e-3]), expected, case="c", what="y", atol=2e-6, rtol=1e-5)


def test_largest_error_and_where():
    expected = torch.zeros(2, 3, 4)
    got = expected.clone()
    got[1, 2, 0] = 0.5
    got[0, 0, 1] = 0.1
    message = str(failure(expect_close, got, expected, case="x of shape (2, 3, 4)", what="LayerNorm",
                          atol=1e-5, rtol=1e-5))
    assert message.startswith("case: x of shape (2, 3, 4)\nLayerNorm differs from GPT-2's\n")
    assert "largest error 5.00e-01 at index (1, 2, 0)" in message
    assert "2 of 24 values are off (8.3%)" in message


def test_expected_values_are_never_printed():
    expected = torch.tensor([[3.14159, 2.71828], [1.41421, 1.73205]])
    got = torch.full_like(expected, 10.0)
    wrong_shape = str(failure(expect_close, torch.zeros(4), expected, case="c", what="y", atol=1e-5, rtol=0))
    wrong_values = str(failure(expect_close, got, expected, case="c", what="y", atol=1e-5, rtol=0))
    for message in (wrong_shape, wrong_values):
        for digits in ("3.14", "2.71", "2.72", "1.41", "1.73"):
            assert digits not in message, message
    assert "largest error 8.59e+00 at index (1, 0)" in wrong_values  # |got - expected|, not a value


def test_nan_is_reported_with_its_first_index():
    got = torch.zeros(2, 3)
    got[1, 1] = float("nan")
    message = str(failure(expect_close, got, torch.zeros(2, 3), case="c", what="y", atol=1e-5, rtol=0))
    assert "NaN or inf (first at index (1, 1))" in message


def test_exact_comparison_reports_any_difference():
    expected = torch.arange(6.0)
    expect_equal(expected.clone(), expected, case="c", what="split_heads")
    with pytest.raises(KataFailure):
        expect_equal(expected + 1e-3 * (expected == 5), expected, case="c", what="split_heads")


def test_token_ids_are_told_as_positions_and_ids_not_as_errors():
    expected = torch.tensor([[464, 3290, 318, 257, 922], [50256, 11, 13, 198, 262]])
    got = expected.clone()
    got[0, 3], got[1, 4] = 1049, 0
    message = str(failure(expect_equal, got, expected, case="greedy", what="the generated tokens"))
    assert "the generated tokens differ from GPT-2's" in message
    assert "2 of 10 ids differ (20.0%): at (0, 3) yours is 1049, GPT-2's 257; at (1, 4) yours is 0, GPT-2's 262" \
        in message
    assert "along the sequence, the first position where they differ is 3" in message
    assert "largest error" not in message and "e+" not in message


def test_masks_are_told_as_entries():
    expected = torch.zeros(2, 50257, dtype=torch.bool)
    got = expected.clone()
    got[0, 17] = got[1, 4] = True
    message = str(failure(expect_equal, got, expected, case="c", what="which tokens top_k_filter keeps"))
    assert "2 of 100514 entries differ (under 0.1%): at (0, 17) yours is True, GPT-2's False" in message
    assert "0.0%" not in message and "largest error" not in message


def test_the_verb_agrees_with_what_differs():
    from gpt2lab.verdict import differ

    assert differ("the logits") == "the logits differ"
    assert differ("forward_cached's logits for tokens 3..5") == "forward_cached's logits for tokens 3..5 differ"
    assert differ("the learning rates (one per step)") == "the learning rates (one per step) differ"
    for one in ("LayerNorm.forward", "split_heads", "merge_heads(split_heads(x))", "lm_loss",
                "the gradient of lm_loss with respect to the logits", "the attention of the new positions",
                "block 3's output", "CausalSelfAttention with attn_dropout=0.3", "bpe"):
        assert differ(one) == f"{one} differs"
    message = str(failure(expect_close, torch.ones(3), torch.zeros(3), case="c", what="the logits", atol=0, rtol=0))
    assert "the logits differ from GPT-2's" in message


# -- classic mistakes ------------------------------------------------------------------------------


def layer_norm(x, *, unbiased=False, eps_inside=True):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=unbiased)
    return (x - mean) / (torch.sqrt(var + 1e-5) if eps_inside else torch.sqrt(var) + 1e-5)


def ln_mistakes(x):
    return [Mistake("unbiased variance", "divide by C", layer_norm(x, unbiased=True)),
            Mistake("eps outside the square root", "sqrt(var + eps)", layer_norm(x, eps_inside=False))]


def test_a_classic_mistake_is_named_with_its_hint():
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 1e-3  # tiny variance: eps matters
    expected = layer_norm(x)
    for mistake in ln_mistakes(x):
        error = failure(expect_close, mistake.output, expected, case="c", what="LayerNorm",
                        atol=1e-5, rtol=1e-5, mistakes=ln_mistakes(x))
        assert error.diagnosis == mistake.name
        assert f"this looks like a classic mistake: {mistake.name}\n  hint: {mistake.hint}" in str(error)


def test_an_unknown_error_is_not_given_a_diagnosis():
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    error = failure(expect_close, layer_norm(x) * 1.5, layer_norm(x), case="c", what="LayerNorm",
                    atol=1e-5, rtol=1e-5, mistakes=ln_mistakes(x))
    assert error.diagnosis is None and "classic mistake" not in str(error)


def test_a_mistake_that_changes_nothing_on_this_case_is_not_claimed():
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    harmless = Mistake("harmless", "none", layer_norm(x))  # equal to the reference here
    error = failure(expect_close, layer_norm(x) + 1.0, layer_norm(x), case="c", what="y",
                    atol=1e-5, rtol=1e-5, mistakes=[harmless])
    assert error.diagnosis is None


def test_a_mistake_is_named_only_when_it_explains_the_difference():
    """Within 10 tolerances of a mistake is not enough: the output must be nearer to it than to GPT-2's."""
    expected = torch.zeros(4)
    slightly_off = Mistake("slightly off", "h", torch.tensor([0.0, 5e-5, 0.0, 0.0]))
    error = failure(expect_close, torch.tensor([3e-5, 0.0, 0.0, 0.0]), expected, case="c", what="y",
                    atol=1e-5, rtol=0, mistakes=[slightly_off])
    assert error.diagnosis is None
    error = failure(expect_close, torch.tensor([0.0, 4e-5, 0.0, 0.0]), expected, case="c", what="y",
                    atol=1e-5, rtol=0, mistakes=[slightly_off])
    assert error.diagnosis == "slightly off"


def test_mistakes_are_only_computed_when_the_output_is_wrong():
    """A generator of mistakes costs nothing on a passing case (the suites may pass one lazily)."""
    computed = []

    def lazy():
        computed.append(1)
        yield Mistake("m", "h", torch.ones(3))

    expect_close(torch.zeros(3), torch.zeros(3), case="c", what="y", atol=1e-5, rtol=0, mistakes=lazy())
    assert computed == []


# -- training steps --------------------------------------------------------------------------------


def adam_steps(weights, gradients, optimizer_of, **slack):
    """Optimizer steps on one parameter with given gradients: the weights after the last, and with
    `slack` (AdamSlack's keywords), the AdamSlack that watched them."""
    model = nn.Module()
    model.w = nn.Parameter(weights.clone())
    optimizer = optimizer_of([model.w])
    watch = AdamSlack(model, **slack) if slack else None
    for g in gradients:
        model.w.grad = g.clone()
        if watch:
            watch.before_step(optimizer)
        optimizer.step()
        if watch:
            watch.after_step(optimizer)
    return model.w.detach(), watch


@pytest.mark.parametrize("seed", range(5))
def test_adam_slack_bounds_what_gradient_rounding_can_do(seed):
    """Gradients moved by at most grad_noise times each step's largest: every weight stays within
    allowed(); and only the weights whose gradients are about 0 get more than atol."""
    g = torch.Generator().manual_seed(seed)
    gradients = [torch.randn(2000, generator=g, dtype=torch.float64) * 1e-3 for _ in range(3)]
    for t, grad in enumerate(gradients):
        grad[:100] *= 1e-6  # about 0, as rounding noise is
        grad[:20] = 0.0
        grad[100 + 50 * t:150 + 50 * t] *= 1e-4  # tiny on one step only
    adamw = lambda params: torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8,  # noqa: E731
                                             weight_decay=0.1)
    weights = torch.randn(2000, generator=g, dtype=torch.float64)
    expected, slack = adam_steps(weights, gradients, adamw, atol=0.0, grad_noise=1e-5)
    allowed = slack.allowed()["w"]
    for _ in range(4):
        moved = [grad + 1e-5 * grad.abs().max() * (2 * torch.rand(2000, generator=g, dtype=torch.float64) - 1)
                 for grad in gradients]
        got, _ = adam_steps(weights, moved, adamw)
        assert ((got - expected).abs() <= allowed + 1e-15).all()
    assert (allowed[:20] > 3e-3).all()  # about 2 lr per step where the gradients are 0: no bound
    ordinary = allowed[300:]  # where they are not, a tiny fraction of e10's 2e-5, but near 0 by chance
    assert ordinary.median() < 1e-6 and (ordinary < 2e-5).double().mean() > 0.99


def test_sgd_gets_no_slack():
    sgd = lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)  # noqa: E731
    _, slack = adam_steps(torch.ones(5), [torch.zeros(5), torch.ones(5)], sgd, atol=2e-5, grad_noise=1e-5)
    assert torch.equal(slack.allowed()["w"], torch.full((5,), 2e-5, dtype=torch.float64))


# -- loading GPT-2's weights -----------------------------------------------------------------------


class Mine(nn.Module):
    def __init__(self, rows=4):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(rows, 3))
        self.extra = nn.Parameter(torch.zeros(1))


def test_loading_names_missing_unexpected_and_misshaped_tensors():
    gpt2 = {"weight": torch.zeros(3, 4), "bias": torch.zeros(4)}
    message = str(failure(expect_loadable, Mine(), gpt2, case="c", what="Conv1D"))
    assert "missing (GPT-2 has them, you do not): bias" in message
    assert "unexpected (you have them, GPT-2 does not): extra" in message
    assert "wrong shape, weight: yours (4, 3), GPT-2's (3, 4)" in message
    message = str(failure(expect_loadable, object(), gpt2, case="c", what="Conv1D"))
    assert "expected a torch.nn.Module" in message


def test_fail_formats_case_what_and_details():
    error = failure(fail, "case 1", "it broke", "first detail", "", "second detail", diagnosis="d")
    assert str(error) == "case: case 1\nit broke\n  first detail\n  second detail"
    assert error.diagnosis == "d"
    assert re.fullmatch(r"case: c\nw", str(failure(fail, "c", "w")))


# -- in Spanish ------------------------------------------------------------------------------------


def english_left(text: str, catalogues: tuple[str, ...] = ("verdicts.po", "report.po")) -> list[str]:
    """The English of gpt2lab's shared wording still in `text`: each piece of a translated message
    between its placeholders, 10 characters or more, that its Spanish does not share (code does)."""
    left = []
    for name in catalogues:
        for english, spanish in i18n.read_po(i18n.LOCALE / "es" / name).items():
            for piece, _field, _spec, _conversion in string.Formatter().parse(english):
                piece = piece.strip()
                if len(piece) >= 10 and piece not in spanish and piece in text:
                    left.append(piece)
    return left


@pytest.fixture
def spanish(monkeypatch):
    """GPT2LAB_LANG=es, as `--lang es` or a Spanish locale sets it."""
    monkeypatch.setenv("GPT2LAB_LANG", "es")


def in_spanish(message: str) -> str:
    assert "{" not in message and english_left(message) == [], message
    return message


def test_a_verdict_reads_in_spanish(spanish):
    expected = torch.zeros(2, 3, 4)
    got = expected.clone()
    got[1, 2, 0] = 0.5
    message = in_spanish(str(failure(expect_close, got, expected, case="x de forma (2, 3, 4)", what="LayerNorm",
                                     atol=1e-5, rtol=1e-5)))
    assert message.startswith("caso: x de forma (2, 3, 4)\nLayerNorm: los valores no coinciden con los de GPT-2\n")
    assert "mayor error 5.00e-01 en el índice (1, 2, 0) (se permite: 1e-05 + 1e-05·|esperado|)" in message
    assert "1 de 24 valores se salen de la tolerancia (4.2%)" in message


def test_a_classic_mistake_is_named_in_spanish_with_the_suites_own_words(spanish):
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 1e-3
    mistake = Mistake("varianza no sesgada", "divide entre C", layer_norm(x, unbiased=True))
    error = failure(expect_close, mistake.output, layer_norm(x), case="c", what="LayerNorm", atol=1e-5, rtol=1e-5,
                    mistakes=[mistake])
    assert error.diagnosis == "varianza no sesgada"
    assert "parece un error clásico: varianza no sesgada\n  pista: divide entre C" in in_spanish(str(error))


def test_shapes_types_and_devices_read_in_spanish(spanish):
    swapped = in_spanish(str(failure(expect_close, torch.zeros(2, 12, 5, 64), torch.zeros(2, 5, 12, 64), case="c",
                                     what="los logits", atol=1e-5, rtol=0)))
    assert "los logits: la forma no es la esperada\n  se esperaba (2, 5, 12, 64), la tuya es (2, 12, 5, 64)" in swapped
    assert "causa probable: los mismos tamaños en otro orden (cambian los ejes [1, 2])" in swapped
    assert "transpose/permute" in swapped
    hints = {(2, 1, 50): KnownShape("logits solo de la última posición", "los de cada posición: (B, T, V)")}
    known = in_spanish(str(failure(expect_close, torch.zeros(2, 1, 50), torch.zeros(2, 7, 50), case="c",
                                   what="los logits", atol=1e-4, rtol=0, shape_hints=hints)))
    assert known.endswith("parece un error clásico: logits solo de la última posición\n"
                          "  pista: los de cada posición: (B, T, V)")
    assert "eje por eje" in explain_shape((2, 5), (2, 5, 768)) and "dividido o unido" in explain_shape((2, 60, 64),
                                                                                                     (2, 5, 768))
    none = in_spanish(str(failure(expect_tensor, None, torch.zeros(3), case="c", what="gelu(x)")))
    assert "gelu(x) devolvió NoneType, se esperaba un torch.Tensor" in none and "¿se te olvidó un `return`?" in none
    dtype = in_spanish(str(failure(expect_tensor, torch.zeros(3, dtype=torch.float64), torch.zeros(3), case="c",
                                   what="y")))
    assert "y: el dtype es torch.float64, se esperaba torch.float32" in dtype and "dtype=x.dtype" in dtype
    device = in_spanish(str(failure(expect_tensor, torch.zeros(3, device="meta"), torch.zeros(3), case="c", what="y")))
    assert "y: el resultado está en meta, pero la entrada estaba en cpu" in device and "device=x.device" in device
    nan = torch.zeros(2, 3)
    nan[1, 1] = float("nan")
    assert "hay NaN o inf (el primero en el índice (1, 1))" in in_spanish(
        str(failure(expect_close, nan, torch.zeros(2, 3), case="c", what="y", atol=1e-5, rtol=0)))


def test_token_ids_masks_and_loading_read_in_spanish(spanish):
    expected = torch.tensor([[464, 3290, 318, 257, 922], [50256, 11, 13, 198, 262]])
    got = expected.clone()
    got[0, 3], got[1, 4] = 1049, 0
    ids = in_spanish(str(failure(expect_equal, got, expected, case="voraz", what="los tokens generados")))
    assert ("2 de 10 ids no coinciden (20.0%): en (0, 3) tienes 1049 y GPT-2 tiene 257; "
            "en (1, 4) tienes 0 y GPT-2 tiene 262") in ids
    assert "la primera posición en la que no coinciden es 3" in ids
    mask = torch.zeros(2, 50257, dtype=torch.bool)
    entries = in_spanish(str(failure(expect_equal, mask.logical_or(torch.arange(50257) == 17), mask, case="c",
                                     what="la máscara")))
    assert "2 de 100514 entradas no coinciden (menos del 0.1%): en (0, 17) tienes True y GPT-2 tiene False" in entries
    gpt2 = {"weight": torch.zeros(3, 4), "bias": torch.zeros(4)}
    loading = in_spanish(str(failure(expect_loadable, Mine(), gpt2, case="c", what="Conv1D")))
    assert "Conv1D: no puede cargar los pesos de GPT-2" in loading
    assert "faltan (GPT-2 los tiene, tú no): bias" in loading and "sobran (tú los tienes, GPT-2 no): extra" in loading
    assert "forma equivocada, weight: la tuya (4, 3), la de GPT-2 (3, 4)" in loading
    assert "se esperaba un torch.nn.Module" in in_spanish(str(failure(expect_loadable, object(), gpt2, case="c",
                                                                      what="Conv1D")))


def test_the_dropout_probes_read_in_spanish(spanish):
    from gpt2lab.probes import expect_dropout_unbiased, expect_eval_deterministic, expect_output_dropout

    calls = iter(range(10))
    changing = in_spanish(str(failure(expect_eval_deterministic, lambda: torch.full((3,), float(next(calls))),
                                      case="c", what="MLP")))
    assert "MLP: la salida cambia entre dos llamadas en modo eval()" in changing
    assert "training=self.training" in changing
    dropped = in_spanish(str(failure(expect_output_dropout, torch.ones(1000), torch.ones(1000), 0.5, case="c",
                                     what="MLP")))
    assert "un 0% de la salida queda a cero, se esperaba alrededor de un 50% (dropout p=0.5)" in dropped
    same = in_spanish(str(failure(expect_dropout_unbiased, lambda: torch.ones(3), torch.ones(3), samples=4, case="c",
                                  what="la atención")))
    assert "dan la misma salida" in same


def test_the_plugins_own_lines_read_in_spanish(spanish, tmp_path):
    from gpt2lab.pytest_plugin import classify

    learner = tmp_path / "exercises"
    learner.mkdir()
    (learner / "e01_layer_norm.py").write_text("def forward(x):\n    return x.nope\n")
    namespace = {}
    exec(compile((learner / "e01_layer_norm.py").read_text(), str(learner / "e01_layer_norm.py"), "exec"), namespace)
    with pytest.raises(AttributeError) as caught:
        namespace["forward"](1)
    verdict = classify(caught, tmp_path, "exercises")
    assert verdict["status"] == "error" and verdict["in_exercise"] == "e01"
    assert in_spanish(verdict["message"]).startswith("tu código lanzó AttributeError:")
    assert "exercises/e01_layer_norm.py:2 en forward\n    return x.nope" in verdict["message"]
    with pytest.raises(SyntaxError) as caught:
        compile("def f(:\n", str(learner / "e01_layer_norm.py"), "exec")
    assert in_spanish(classify(caught, tmp_path, "exercises")["message"]).startswith("tu archivo no compila:")
    with pytest.raises(ValueError) as caught:
        raise ValueError("x")
    assert "(lanzada fuera de tu código:" in in_spanish(classify(caught, tmp_path, "exercises")["message"])
    assert classify(None, tmp_path, "exercises")["message"] == "el test falló sin lanzar ninguna excepción"


def test_english_is_still_the_default():
    assert str(failure(fail, "c", "w")) == "case: c\nw"
    assert i18n.translate("case: {case}", "es") == "caso: {case}"
