"""Harvests PyTorch's own OpInfo cases (torch.testing._internal.common_methods_invocations
.op_db) into conformance fixtures: for every OpInfo entry named in FAMILIES, its
sample_inputs in float32 and float64 (plus the integer, bool and half dtypes the op
supports) and, where the OpInfo has them, its reference_inputs beyond the samples (ids
with `ref`), the forward outputs, and the gradients of a fixed random cotangent with
respect to every differentiable tensor input. As PyTorch's own OpInfo tests do, the op is
called through the OpInfo's gradcheck wrapper (e.g. symmetrizing the input of eigh) and
its outputs pass through the sample's output_process_fn_grad (e.g. |U| for the SVD, whose
signs are not unique); the case names both ("wrapper", "process") so the replay applies
the same.

Writes, per family, fixtures/conformance/pytorch/<family>.safetensors (every tensor,
contiguous) and <family>.json (the manifest: one entry per case, naming its tensors).
Run with the pinned venv:  oracle/.venv/bin/python oracle/conformance/torch_opinfo.py [FAMILY...]
The generator is reseeded per op and dtype, so the inputs depend only on the pinned
versions; outputs can move by an ulp or two between hosts (PyTorch's CPU kernels pick
their code by the CPU).

Manifest value encoding (for inputs, args, kwargs and outputs):
  {"t": key}            a tensor stored under `key` in the family's safetensors file
  {"dtype": "float32"}  a torch.dtype
  {"slice": [start, stop, step]}, {"ellipsis": null}  index expressions (`x[...]`)
  [v, ...]              a list/tuple/torch.Size
  numbers, bools, strings, null as themselves
"""
import hashlib, itertools, json, os, sys
import torch
from safetensors.torch import save_file
from torch.testing._internal.common_methods_invocations import op_db
from torch.testing._internal.opinfo.core import SampleInput

# SampleInput's default output_process_fn_grad (the identity).
IDENTITY = SampleInput(torch.zeros(1)).output_process_fn_grad.__code__

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "conformance", "pytorch")
MAX_SAMPLES = {torch.float32: 6, torch.float64: 6}
OTHER_SAMPLES = 2
# Reference inputs (extremes, special values, odd shapes) beyond the samples.
MAX_REFERENCES = {torch.float32: 4, torch.float64: 4}
# Reference generators can be long; only this many are looked at, and only small ones
# are kept (their large tensors repeat the samples' coverage at many times the bytes).
REFERENCE_SCAN = 300
REFERENCE_NUMEL = 256
MAX_NUMEL = 2048
# Ops whose every sample is larger than MAX_NUMEL.
LARGER_SAMPLES = {"_upsample_bilinear2d_aa": 4096}

# PyTorch feature families (DESIGN.md section 6) and the OpInfo names harvested for each.
FAMILIES = {
    "tensor_core": """abs acos acosh add addcdiv addcmul asin asinh atan atan2 atanh bitwise_and
        bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor ceil clamp
        clamp_max clamp_min copysign cos cosh deg2rad div eq erf erfc erfinv exp exp2 expm1
        float_power floor floor_divide fmax fmin fmod frac ge gt hypot isfinite isinf isnan
        isneginf isposinf le lerp log log10 log1p log2 logaddexp logical_and logical_not
        logical_or logical_xor logit lt maximum minimum mul nan_to_num ne neg positive pow
        rad2deg reciprocal remainder round rsqrt sigmoid sign signbit sin sinc sinh sqrt square
        sub tan tanh true_divide trunc where xlogy arange linspace logspace eye full full_like
        ones ones_like zeros zeros_like clone contiguous isclose allclose equal bfloat16 bool
        byte char double float half int long short rsub sgn logaddexp2 heaviside ldexp""",
    "reductions": """all amax amin any argmax argmin count_nonzero cummax cummin cumprod cumsum
        logcumsumexp logsumexp mean norm prod std std_mean sum var var_mean softmax
        log_softmax max min median nanmedian mode kthvalue quantile nanquantile nansum
        nanmean""",
    "shape_ops": """broadcast_tensors broadcast_to cat chunk diag diag_embed diagonal expand
        expand_as flatten flip hstack movedim narrow permute repeat repeat_interleave reshape
        roll select slice split split_with_sizes squeeze stack t tensor_split tile transpose
        tril triu unbind unflatten unfold unsqueeze view vstack as_strided ravel reshape_as
        view_as fliplr flipud rot90 atleast_1d atleast_2d atleast_3d column_stack dstack hsplit
        vsplit dsplit alias_copy diagonal_copy expand_copy permute_copy squeeze_copy t_copy
        transpose_copy unsqueeze_copy view_copy unbind_copy split_with_sizes_copy unfold_copy
        narrow_copy""",
    "indexing": """__getitem__ index_put gather scatter scatter_add scatter_reduce index_select
        index_add index_copy index_fill index_reduce masked_fill masked_scatter masked_select
        take take_along_dim put nonzero argwhere bincount histc sort argsort msort topk
        searchsorted bucketize unique unique_consecutive""",
    "linalg": """addmm addmv baddbmm bmm dot einsum kron matmul mm mv outer tensordot trace vdot
        linalg.cholesky linalg.cholesky_ex cholesky_solve cholesky_inverse linalg.lu_factor
        linalg.lu_factor_ex linalg.lu lu_unpack linalg.lu_solve lu_solve lu linalg.qr
        linalg.eigh linalg.eigvalsh linalg.eig linalg.eigvals linalg.svd svd linalg.svdvals
        linalg.solve_triangular triangular_solve linalg.solve linalg.solve_ex linalg.inv
        linalg.inv_ex linalg.det logdet linalg.slogdet linalg.lstsq linalg.matrix_norm
        linalg.vector_norm linalg.norm linalg.cond linalg.matrix_rank linalg.pinv pinverse
        linalg.matrix_power matrix_exp linalg.cross cross linalg.vecdot linalg.multi_dot
        linalg.diagonal linalg.vander linalg.tensorinv linalg.tensorsolve""",
    "nn_functional": """nn.functional.relu nn.functional.relu6 nn.functional.elu nn.functional.selu
        nn.functional.celu nn.functional.gelu nn.functional.silu nn.functional.mish
        nn.functional.softplus nn.functional.leaky_relu nn.functional.hardtanh
        nn.functional.hardsigmoid nn.functional.hardswish nn.functional.logsigmoid
        nn.functional.softsign nn.functional.tanhshrink nn.functional.hardshrink
        nn.functional.softshrink nn.functional.conv1d nn.functional.conv2d nn.functional.conv3d
        nn.functional.conv_transpose1d nn.functional.conv_transpose2d nn.functional.conv_transpose3d
        nn.functional.max_pool1d nn.functional.max_pool2d nn.functional.max_pool3d
        nn.functional.avg_pool1d nn.functional.avg_pool2d nn.functional.avg_pool3d
        nn.functional.pad constant_pad_nd nn.functional.unfold nn.functional.interpolate
        nn.functional.upsample_nearest nn.functional.upsample_bilinear _upsample_bilinear2d_aa
        nn.functional.adaptive_avg_pool1d nn.functional.adaptive_avg_pool2d
        nn.functional.adaptive_avg_pool3d nn.functional.adaptive_max_pool1d
        nn.functional.adaptive_max_pool2d nn.functional.adaptive_max_pool3d nn.functional.lp_pool1d nn.functional.lp_pool2d
        nn.functional.lp_pool3d nn.functional.max_unpool1d nn.functional.max_unpool2d
        nn.functional.max_unpool3d nn.functional.pixel_shuffle nn.functional.pixel_unshuffle
        nn.functional.one_hot nn.functional.embedding nn.functional.embedding_bag
        nn.functional.grid_sample grid_sampler_2d grid_sampler_3d nn.functional.softmin nn.functional.glu
        nn.functional.threshold nn.functional.linear nn.functional.mse_loss nn.functional.l1_loss
        nn.functional.smooth_l1_loss nn.functional.huber_loss
        nn.functional.scaled_dot_product_attention""",
    "special": """lgamma digamma polygamma mvlgamma special.polygamma i0 special.i0e special.i1
        special.i1e special.erfcx special.ndtr special.ndtri special.log_ndtr special.xlog1py
        special.zeta special.entr""",
}

# Samples whose outputs are random draws (dropout inside the op): their values depend on
# the generator's state at the call, which a replay from stored inputs cannot reproduce.
RANDOM_SAMPLE = {
    "nn.functional.scaled_dot_product_attention": lambda s: s.kwargs.get("dropout_p", 0.0) > 0,
}

EXTRA_DTYPES = [torch.int64, torch.int32, torch.bool, torch.float16, torch.bfloat16]


class Skip(Exception):
    pass


class Family:
    def __init__(self):
        self.tensors, self.cases = {}, []
        self.max_numel = MAX_NUMEL

    def put(self, key, t, complex_ok=False):
        t = t.detach()
        if t.layout != torch.strided or (t.is_complex() and not complex_ok):
            raise Skip("complex or sparse")
        if t.is_complex():
            # Psionic has no complex dtype: complex results are compared in
            # torch.view_as_real's layout, the (re, im) pairs in a trailing dim of 2.
            t = torch.view_as_real(t.resolve_conj())
        if t.numel() > self.max_numel:
            raise Skip("too large")
        self.tensors[key] = t.contiguous().clone()
        return {"t": key}


def encode(fam, prefix, v, tensors, complex_ok=False):
    """Manifest form of `v`; tensors are stored and listed in `tensors` (in order).
    Complex tensors are admitted only where `complex_ok` (outputs)."""
    if isinstance(v, torch.Tensor):
        key = f"{prefix}.{len(tensors)}"
        tensors.append(v)
        return fam.put(key, v, complex_ok)
    if isinstance(v, torch.dtype):
        return {"dtype": str(v).replace("torch.", "")}
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return {"float": str(v)}
        return v
    if isinstance(v, slice):
        return {"slice": [encode(fam, prefix, x, tensors) for x in (v.start, v.stop, v.step)]}
    if v is Ellipsis:
        return {"ellipsis": None}
    if isinstance(v, (list, tuple, torch.Size)):
        return [encode(fam, prefix, x, tensors) for x in v]
    raise Skip(f"unencodable {type(v).__name__}")


def cotangent(o, gen):
    """A random cotangent for output `o`; a complex one has random real and imaginary parts."""
    if o.is_complex():
        pairs = torch.randn(tuple(o.shape) + (2,), generator=gen, dtype=torch.float64)
        return torch.view_as_complex(pairs).to(o.dtype)
    return torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)


def flat_outputs(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flat_outputs(o)]
    return [out]


def fingerprint(s):
    """What tells two SampleInputs apart: their values, dtypes and shapes."""
    h = hashlib.sha1()

    def walk(v):
        if isinstance(v, torch.Tensor):
            t = v.detach()
            h.update(repr((tuple(t.shape), str(t.dtype), t.layout)).encode())
            if t.layout == torch.strided and t.numel() <= 4 * MAX_NUMEL:
                h.update(repr(t.tolist()).encode())
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k in sorted(v):
                h.update(k.encode())
                walk(v[k])
        else:
            h.update(repr(v).encode())

    walk([s.input, list(s.args), s.kwargs])
    return h.hexdigest()


def harvest(fam, family, op, dtype, limit, ref_limit):
    torch.manual_seed(0)
    grad = dtype.is_floating_point and op.supports_autograd
    try:
        samples = list(op.sample_inputs("cpu", dtype, requires_grad=grad))
    except Exception:
        return
    fam.max_numel = LARGER_SAMPLES.get(op.name, MAX_NUMEL)
    try:
        take(fam, family, op, dtype, grad, samples, "", limit)
    finally:
        fam.max_numel = MAX_NUMEL
    if not ref_limit or op.reference_inputs_func is None:
        return
    seen = {fingerprint(s) for s in samples}
    torch.manual_seed(0)
    try:
        refs = list(itertools.islice(op.reference_inputs("cpu", dtype, requires_grad=grad), REFERENCE_SCAN))
    except Exception:
        return
    fam.max_numel = REFERENCE_NUMEL
    try:
        take(fam, family, op, dtype, grad, [r for r in refs if fingerprint(r) not in seen], "ref", ref_limit)
    finally:
        fam.max_numel = MAX_NUMEL


def take(fam, family, op, dtype, grad, samples, tag, limit):
    taken = 0
    random_sample = RANDOM_SAMPLE.get(op.name, lambda s: False)
    for si, s in enumerate(samples):
        if taken >= limit:
            break
        if random_sample(s):
            continue
        cid = f"{op.name}.{op.variant_test_name or '_'}.{str(dtype)[6:]}.{tag}{si}"
        saved_keys = set()
        ins = []
        try:
            before = set(fam.tensors)
            entry = {
                "id": cid, "op": op.name, "variant": op.variant_test_name, "family": family,
                "dtype": str(dtype).replace("torch.", ""),
                "input": encode(fam, cid + ".in", s.input, ins),
                "args": encode(fam, cid + ".in", list(s.args), ins),
                "kwargs": {k: encode(fam, cid + ".in", v, ins) for k, v in sorted(s.kwargs.items())},
            }
            wrapper = op.gradcheck_wrapper
            if wrapper.__name__ != "<lambda>":
                entry["wrapper"] = wrapper.__name__
                out = wrapper(op, s.input, *s.args, **s.kwargs)
            else:
                out = op(s.input, *s.args, **s.kwargs)
            process = s.output_process_fn_grad
            if process.__code__ is not IDENTITY:
                entry["process"] = process.__qualname__
                out = process(out)
            outs = flat_outputs(out)
            numbered = []
            entry["outputs"] = [encode(fam, cid + ".out", o, numbered, complex_ok=True) for o in outs]
            diff = [i for i, t in enumerate(ins) if t.requires_grad]
            touts = [o for o in outs if isinstance(o, torch.Tensor) and o.requires_grad]
            if grad and diff and touts:
                gen = torch.Generator().manual_seed(1)
                cots = [cotangent(o, gen) for o in touts]
                gs = torch.autograd.grad(touts, [ins[i] for i in diff], cots, allow_unused=True)
                entry["cotangents"] = [fam.put(f"{cid}.cot.{j}", c, complex_ok=True) for j, c in enumerate(cots)]
                entry["grads"] = {str(i): (fam.put(f"{cid}.grad.{i}", g) if g is not None else None)
                                  for i, g in zip(diff, gs)}
        except Skip:
            for k in set(fam.tensors) - before:
                del fam.tensors[k]
            continue
        except Exception:
            # torch itself refuses this sample (or its grad): not a fixture.
            for k in set(fam.tensors) - before:
                del fam.tensors[k]
            continue
        fam.cases.append(entry)
        taken += 1


def main(only):
    """Harvests every family, or only those named on the command line."""
    os.makedirs(OUT, exist_ok=True)
    unknown = set(only) - set(FAMILIES)
    if unknown:
        sys.exit(f"unknown families: {sorted(unknown)}; known: {sorted(FAMILIES)}")
    by_name = {}
    for op in op_db:
        by_name.setdefault(op.name, []).append(op)
    summary = {}
    for family, names in FAMILIES.items():
        if only and family not in only:
            continue
        fam = Family()
        for name in names.split():
            for op in by_name.get(name, []):
                supported = op.supported_dtypes("cpu")
                for dtype in [torch.float32, torch.float64] + EXTRA_DTYPES:
                    if dtype in supported:
                        harvest(fam, family, op, dtype, MAX_SAMPLES.get(dtype, OTHER_SAMPLES), MAX_REFERENCES.get(dtype, 0))
        save_file(fam.tensors, os.path.join(OUT, f"{family}.safetensors"))
        with open(os.path.join(OUT, f"{family}.json"), "w") as f:
            json.dump({"torch": torch.__version__, "family": family, "cases": fam.cases}, f,
                      separators=(",", ":"), sort_keys=True)
        ops = {c["op"] for c in fam.cases}
        summary[family] = (len(fam.cases), len(ops))
    for fam, (n, k) in summary.items():
        print(f"{fam}: {n} cases over {k} ops")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
