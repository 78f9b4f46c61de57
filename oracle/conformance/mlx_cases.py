"""MLX conformance cases, family by family, each written from a function of MLX's own
test suite (`source` names it: file and test) and evaluated by real `mlx.core` on CPU.

Inputs are literal values from the upstream test where it spells them out, otherwise
seeded numpy draws of the shapes it uses (the upstream tests draw from mx.random, whose
stream is not the point here). A case whose program MLX refuses is kept with
`expect: error`: Psionic must refuse it too.
"""
import numpy as np

from mlx_program import (MX, NN, E, call, custom, float16, float32, float64, bfloat16,
                         int32, int64, uint8, bool_)

CASES = []


def case(family, source, name, fn, *inputs):
    CASES.append(dict(family=family, source=source, name=name, fn=fn, inputs=list(inputs)))


def rng(seed):
    return np.random.default_rng(seed)


def uniform(seed, *shape, lo=0.0, hi=1.0, dtype=np.float32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def normal(seed, *shape, dtype=np.float32):
    return rng(seed).standard_normal(size=shape).astype(dtype)


f32 = lambda v: np.array(v, dtype=np.float32)
i32 = lambda v: np.array(v, dtype=np.int32)

# ---- array_core: test_array.py, test_bf16.py, test_double.py -------------------------
A = "array_core"
T = "python/tests/test_array.py::TestArray::"
case(A, T + "test_construction_from_lists", "ints", lambda: MX.array([[1, 2], [3, 4]]))
case(A, T + "test_construction_from_lists", "floats", lambda: MX.array([1.0, 2.5, -3.0]))
case(A, T + "test_construction_from_lists", "mixed", lambda: MX.array([1, 2.5, True]))
case(A, T + "test_construction_from_lists", "bools", lambda: MX.array([True, False, True]))
case(A, T + "test_construction_from_lists", "dtype", lambda: MX.array([1, 2, 3], dtype=float32))
case(A, T + "test_construction_from_lists", "ragged", lambda: MX.array([[1, 2], [3]]))
for src, dst in [(float32, int32), (float32, bool_), (int32, float32), (float32, float16),
                 (float32, bfloat16), (float32, float64), (int32, uint8), (bool_, float32)]:
    vals = [[-1.7, 0.0, 2.9], [3.5, -0.2, 255.0]]
    case(A, T + "test_array_type_cast", f"{src}_to_{dst}".replace("mlx.core.", ""),
         lambda d=dst, s=src: MX.array(vals).astype(s).astype(d))
for a, b in [(np.int8, np.int32), (np.uint8, np.int8), (np.float16, np.float32), (np.int32, np.float32),
             (np.int64, np.float16), (np.bool_, np.int32), (np.uint8, np.int64)]:
    case(A, T + "test_dtype_promotion", f"{a.__name__}+{b.__name__}", lambda x, y: x + y,
         np.array([1, 0, 3], dtype=a), np.array([2, 5, 1], dtype=b))
for dt, s in [(np.int32, 2.5), (np.float16, 2.0), (np.int32, 3), (np.float32, 3)]:
    case(A, T + "test_dtype_python_scalar_promotion", f"{dt.__name__}*{s!r}", lambda x, s=s: x * s,
         np.array([1, 2, 3], dtype=dt))
x, y = f32([1, 2, 3, 4]), f32([1, 3, 3, 0])
for op in ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]:
    case(A, T + "test_array_comparison", op, lambda a, b, op=op: call(op, a, b), x, y)
case(A, T + "test_array_neg", "neg", lambda a: -a, f32([1, -2, 0, 4.5]))
case(A, T + "test_logical_overloads", "and_or_not", lambda a, b: [a & b, a | b, ~a],
     np.array([True, True, False]), np.array([True, False, False]))
case(A, T + "test_array_eq_array", "array_equal", lambda a, b: MX.array_equal(a, b), x, x.copy())
grid = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
for label, idx in [("int", 1), ("neg_int", -1), ("slice", slice(1, 3)), ("step", slice(None, None, 2)),
                   ("newaxis", None), ("ellipsis", (Ellipsis, 0)), ("tuple", (1, 2)),
                   ("mixed", (slice(None), 1, slice(1, None, 2))), ("neg_step", slice(None, None, -1)),
                   ("neg_step_inner", (Ellipsis, slice(3, 0, -2))), ("empty", slice(2, 1))]:
    case(A, T + "test_indexing", label, lambda a, idx=idx: a[idx], grid)
case(A, T + "test_indexing", "array", lambda a, i: a[i], grid, i32([1, 0, 1]))
case(A, T + "test_indexing", "array_mixed", lambda a, i: [a[0, :, i], a[:, i, 1:3], a[..., i]], grid, i32([[2, 0], [1, 1]]))
case(A, T + "test_indexing_grad", "slice_grad", lambda a: MX.grad(lambda z: MX.sum(z[0, 1:3] * 2.0))(a),
     f32([[1, 2, 3], [4, 5, 6]]))
case(A, T + "test_array_copy", "copy", lambda a: MX.array(a), grid)
case(A, T + "test_array_basics", "transpose_property", lambda a: a.T, grid)
B16 = "python/tests/test_bf16.py::TestBF16::"
for op in ["add", "multiply", "subtract", "divide", "maximum", "minimum"]:
    case(A, B16 + "test_binary_ops", "bf16_" + op, lambda a, b, op=op: call(op, a.astype(bfloat16), b.astype(bfloat16)),
         normal(1, 4, 5), normal(2, 4, 5))
for op in ["sum", "prod", "min", "max", "mean"]:
    case(A, B16 + "test_reduction_ops", "bf16_" + op, lambda a, op=op: call(op, a.astype(bfloat16), axis=1),
         uniform(3, 4, 8, lo=0.5, hi=1.5))
case(A, B16 + "test_arg_reduction_ops", "argmax", lambda a: MX.argmax(a.astype(bfloat16), axis=0), normal(4, 6, 3))
D = "python/tests/test_double.py::TestDouble::"
for op in ["abs", "exp", "log1p", "sin", "cos", "tanh", "sigmoid", "sqrt", "erf", "square", "floor"]:
    case(A, D + "test_unary_ops", "f64_" + op, lambda a, op=op: call(op, a),
         uniform(5, 3, 4, lo=0.1, hi=2.0, dtype=np.float64))
for op in ["add", "subtract", "multiply", "divide", "power", "maximum", "arctan2", "logaddexp"]:
    case(A, D + "test_binary_ops", "f64_" + op, lambda a, b, op=op: call(op, a, b),
         uniform(6, 3, 4, lo=0.1, hi=2.0, dtype=np.float64), uniform(7, 3, 4, lo=0.1, hi=2.0, dtype=np.float64))
case(A, D + "test_reduction_ops", "sum", lambda a: [MX.sum(a), MX.sum(a, axis=0), MX.logsumexp(a, axis=1)],
     normal(8, 5, 7).astype(np.float64))
case(A, D + "test_matmul", "matmul", lambda a, b: a @ b, normal(9, 4, 6).astype(np.float64),
     normal(10, 6, 3).astype(np.float64))
case(A, D + "test_type_promotion", "f64_plus_f32", lambda a, b: a + b, np.array([1.5], np.float64), f32([2.25]))

# ---- ops_numeric: test_ops.py, test_reduce.py, test_einsum.py ------------------------
O = "ops_numeric"
P = "python/tests/test_ops.py::TestOps::"
UNARY = {
    "abs": (-3, 3), "negative": (-3, 3), "sign": (-3, 3), "floor": (-3, 3), "ceil": (-3, 3),
    "round": (-3, 3), "exp": (-3, 3), "expm1": (-1, 1), "log": (0.1, 4), "log2": (0.1, 4),
    "log10": (0.1, 4), "log1p": (-0.5, 3), "sin": (-3, 3), "cos": (-3, 3), "tan": (-1, 1),
    "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9), "arctan": (-3, 3), "sinh": (-2, 2),
    "cosh": (-2, 2), "tanh": (-3, 3), "arcsinh": (-3, 3), "arccosh": (1.1, 4), "arctanh": (-0.9, 0.9),
    "sigmoid": (-4, 4), "erf": (-2, 2), "erfinv": (-0.9, 0.9), "sqrt": (0.1, 4), "rsqrt": (0.1, 4),
    "square": (-3, 3), "reciprocal": (0.2, 3), "degrees": (-3, 3), "radians": (-180, 180),
}
for i, (op, (lo, hi)) in enumerate(sorted(UNARY.items())):
    case(O, P + f"test_{op}" if op not in ("arcsin", "arccos") else P + "test_trig_ops", op,
         lambda a, op=op: call(op, a), uniform(100 + i, 3, 5, lo=lo, hi=hi))
    case(O, P + "test_unary_ops", op + "_grad", lambda a, op=op: MX.grad(lambda z: MX.sum(call(op, z)))(a),
         uniform(200 + i, 7, lo=lo + 0.05 * (hi - lo), hi=hi - 0.05 * (hi - lo)))
for op in ["isnan", "isinf", "isfinite", "isposinf", "isneginf"]:
    case(O, P + f"test_{op}", op, lambda a, op=op: call(op, a), f32([0.0, np.nan, np.inf, -np.inf, -1.5]))
case(O, P + "test_logical_not", "logical_not", lambda a: MX.logical_not(a), np.array([True, False]))
case(O, P + "test_trunc", "trunc", lambda a: MX.trunc(a), f32([-2.7, -0.5, 0.5, 2.7]))
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "logaddexp", "arctan2",
          "remainder", "floor_divide"]
for i, op in enumerate(BINARY):
    lo = 0.2 if op == "power" else -3.0
    case(O, P + f"test_{op}" if op in ("add", "subtract", "multiply", "divide", "remainder", "maximum",
                                        "minimum", "logaddexp") else P + "test_binary_ops",
         op, lambda a, b, op=op: call(op, a, b), uniform(300 + i, 4, 1, lo=lo, hi=3), uniform(400 + i, 3, lo=0.5, hi=3))
    if op not in ("remainder", "floor_divide"):
        case(O, P + "test_binary_ops", op + "_grad",
             lambda a, b, op=op: MX.grad(lambda u, v: MX.sum(call(op, u, v)), argnums=[0, 1])(a, b),
             uniform(500 + i, 2, 3, lo=max(lo, 0.2), hi=3), uniform(600 + i, 2, 3, lo=0.5, hi=3))
case(O, P + "test_remainder", "int_signs", lambda a, b: [MX.remainder(a, b), MX.floor_divide(a, b)],
     i32([-7, -7, 7, 7, 0]), i32([2, -2, 2, -2, 3]))
case(O, P + "test_remainder", "float_signs", lambda a, b: MX.remainder(a, b),
     f32([-7.5, -7.5, 7.5, 7.5, -0.0]), f32([2, -2, 2, -2, 3]))
case(O, P + "test_divmod", "divmod", lambda a, b: MX.divmod(a, b), i32([-7, 7, 9]), i32([2, -3, 4]))
case(O, P + "test_scalar_inputs", "scalar_add", lambda a: MX.add(a, 2), i32([1, 2]))
case(O, P + "test_comparisons", "broadcast", lambda a, b: [a < b, a == b, a >= b], f32([[1], [2]]), f32([1, 2, 3]))
case(O, P + "test_minimum", "nan", lambda a, b: MX.minimum(a, b), f32([1, np.nan, 3]), f32([2, 2, np.nan]))
case(O, P + "test_clip", "clip", lambda a: [MX.clip(a, 2, 6), MX.clip(a, None, 4), MX.clip(a, 3, None)],
     f32([1, 4, 3, 8, 5]))
case(O, P + "test_where", "where", lambda c, a, b: MX.where(c, a, b), np.array([True, False, True]),
     f32([1, 2, 3]), f32([[4], [5]]))
case(O, P + "test_nan_to_num", "defaults", lambda a: MX.nan_to_num(a), f32([np.nan, np.inf, -np.inf, 1.0]))
case(O, P + "test_nan_to_num", "values", lambda a: MX.nan_to_num(a, nan=0.5, posinf=2.0, neginf=-3.0),
     f32([np.nan, np.inf, -np.inf, 1.0]))
case(O, P + "test_isclose", "isclose", lambda a, b: [MX.isclose(a, b), MX.isclose(a, b, rtol=0.1)],
     f32([1.0, 1.01, 2.0, np.nan]), f32([1.0, 1.0, 2.5, np.nan]))
case(O, P + "test_allclose", "allclose", lambda a, b: [MX.allclose(a, b), MX.allclose(a, b, atol=0.05)],
     f32([1.0, 1.01]), f32([1.0, 1.0]))
case(O, P + "test_stop_gradient", "stop_gradient",
     lambda a: MX.grad(lambda z: MX.sum(z * MX.stop_gradient(z)))(a), f32([1, 2, 3]))

R = "python/tests/test_reduce.py::TestReduce::"
data = normal(700, 3, 4, 5)
for op in ["sum", "prod", "max", "min", "mean", "logsumexp", "all", "any"]:
    for axis in [None, 1, -1, [0, 2]]:
        for keep in [False, True]:
            src = P + f"test_{op}" if op != "max" and op != "min" else P + "test_min_and_max"
            arr = data > 0 if op in ("all", "any") else data
            case(O, src, f"{op}_axis{axis}_keep{keep}", lambda a, op=op, axis=axis, keep=keep:
                 call(op, a, axis=axis, keepdims=keep), arr)
for op in ["var", "std"]:
    for axis, ddof in [(None, 0), (1, 0), (1, 1), ([0, 1], 1)]:
        case(O, P + f"test_{op}", f"axis{axis}_ddof{ddof}", lambda a, op=op, axis=axis, ddof=ddof:
             call(op, a, axis=axis, ddof=ddof), data)
for op in ["argmax", "argmin"]:
    for axis, keep in [(None, False), (0, False), (2, True)]:
        case(O, P + "test_argmin_argmax", f"{op}_{axis}_{keep}",
             lambda a, op=op, axis=axis, keep=keep: call(op, a, axis=axis, keepdims=keep), data)
case(O, R + "test_sum_bool", "sum_bool", lambda a: MX.sum(a), np.array([True, True, False]))
case(O, R + "test_dtypes", "int_sum", lambda a: [MX.sum(a), MX.prod(a, axis=0), MX.max(a)], i32([[1, -2], [3, 4]]))
case(O, R + "test_zero_size", "zero_size", lambda a: [MX.sum(a, axis=1), MX.prod(a, axis=1)],
     np.zeros((3, 0), np.float32))
case(O, R + "test_nan_propagation", "nan", lambda a: [MX.max(a), MX.min(a, axis=0)], f32([[1, np.nan], [3, 4]]))
case(O, R + "test_arg_reduce", "ties", lambda a: [MX.argmax(a, axis=1), MX.argmin(a, axis=1)],
     f32([[1, 3, 3, 0], [2, 2, 1, 1]]))
for op in ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]:
    for axis, rev, inc in [(0, False, True), (1, True, True), (1, False, False), (-1, True, False)]:
        case(O, P + ("test_scans" if op != "logcumsumexp" else "test_logcumsumexp"),
             f"{op}_{axis}_{rev}_{inc}", lambda a, op=op, axis=axis, rev=rev, inc=inc:
             call(op, a, axis=axis, reverse=rev, inclusive=inc), uniform(710, 3, 4, lo=0.5, hi=1.5))
case(O, P + "test_softmax", "softmax", lambda a: [MX.softmax(a), MX.softmax(a, axis=0)], normal(720, 3, 4))
case(O, P + "test_logsumexp", "inf", lambda a: MX.logsumexp(a, axis=1), f32([[-np.inf, -np.inf], [0, np.inf]]))
case(O, P + "test_transpose_noargs", "transpose", lambda a: MX.transpose(a), data)
case(O, P + "test_transpose_axis", "axes", lambda a: MX.transpose(a, [0, 2, 1]), data)
case(O, P + "test_move_swap_axes", "moveaxis", lambda a: [MX.moveaxis(a, 0, 2), MX.swapaxes(a, 0, 1)], data)
case(O, P + "test_squeeze_expand", "squeeze_expand",
     lambda a: [MX.squeeze(a), MX.squeeze(a, 0), MX.expand_dims(a, [0, 3])], normal(730, 1, 3, 1))
case(O, P + "test_squeeze_expand_invalid_axes", "bad_squeeze", lambda a: MX.squeeze(a, 1), normal(731, 1, 3, 1))
case(O, P + "test_flatten", "flatten", lambda a: [MX.flatten(a), MX.flatten(a, 1, 2), MX.flatten(a, start_axis=1)], data)
case(O, P + "test_broadcast", "broadcast_to", lambda a: MX.broadcast_to(a, [2, 3, 4]), normal(732, 3, 1))
case(O, P + "test_broadcast_arrays", "broadcast_arrays", lambda a, b: MX.broadcast_arrays(a, b),
     normal(733, 3, 1), normal(734, 1, 4))
case(O, P + "test_concatenate", "concatenate",
     lambda a, b: [MX.concatenate([a, b], axis=0), MX.concatenate([a, a], axis=-1), MX.concatenate([a, b], axis=None)],
     normal(740, 2, 3), normal(741, 4, 3))
case(O, P + "test_stack", "stack", lambda a, b: [MX.stack([a, b]), MX.stack([a, b], axis=-1)],
     normal(742, 2, 3), normal(743, 2, 3))
case(O, P + "test_split", "sections", lambda a: MX.split(a, 3, axis=1), normal(744, 2, 6))
case(O, P + "test_split", "indices", lambda a: MX.split(a, [1, 4], axis=1), normal(744, 2, 6))
case(O, P + "test_split_invalid_num_splits", "uneven", lambda a: MX.split(a, 4, axis=1), normal(744, 2, 6))
case(O, P + "test_unstack", "unstack", lambda a: MX.unstack(a, axis=1), normal(745, 2, 3))
case(O, P + "test_pad", "constant",
     lambda a: [MX.pad(a, 1), MX.pad(a, [[0, 1], [2, 0]], constant_values=3.0)], normal(746, 2, 3))
case(O, P + "test_pad_reflect_symmetric", "edge", lambda a: MX.pad(a, [[1, 1], [2, 2]], mode="edge"), normal(747, 2, 3))
case(O, P + "test_tile", "tile", lambda a: [MX.tile(a, 2), MX.tile(a, [2, 1, 3])], normal(748, 2, 3))
case(O, P + "test_repeat", "repeat", lambda a: [MX.repeat(a, 2, axis=1), MX.repeat(a, 3)], normal(749, 2, 3))
for op in ["tril", "triu"]:
    case(O, P + f"test_{op}", op, lambda a, op=op: [call(op, a), call(op, a, k=1), call(op, a, k=-1)], normal(750, 4, 5))
case(O, P + "test_tri", "tri", lambda: [MX.tri(3), MX.tri(3, 4, k=1)])
case(O, P + "test_eye", "eye", lambda: [MX.eye(3), MX.eye(3, 4), MX.eye(4, 3, k=1), MX.identity(2)])
case(O, P + "test_arange_overload_dispatch", "arange",
     lambda: [MX.arange(5), MX.arange(1, 7, 2), MX.arange(0.0, 1.0, 0.25), MX.arange(5, dtype=float32)])
case(O, P + "test_arange_corner_cases_cast", "empty", lambda: [MX.arange(3, 1), MX.arange(0, 10, 3)])
case(O, P + "test_linspace", "linspace", lambda: [MX.linspace(0, 1, 5), MX.linspace(-2, 3, 1), MX.linspace(0, 1, 0)])
case(O, P + "test_full_ones_zeros", "full",
     lambda: [MX.full([2, 3], 7.0), MX.full(3, 2), MX.zeros([2, 2]), MX.ones(3, dtype=int32), MX.full([2], True)])
case(O, P + "test_zeros_ones_empty_like_dtype", "like", lambda a: [MX.zeros_like(a), MX.ones_like(a)], i32([1, 2]))
case(O, P + "test_diag", "diag", lambda a, v: [MX.diag(a), MX.diag(a, k=1), MX.diag(v), MX.diag(v, k=-1)],
     normal(751, 3, 4), f32([1, 2, 3]))
case(O, P + "test_diagonal", "diagonal", lambda a: [MX.diagonal(a), MX.diagonal(a, 1, 0, 2)], normal(752, 3, 4, 5))
case(O, P + "test_trace", "trace", lambda a: [MX.trace(a), MX.trace(a, offset=1)], normal(753, 4, 4))
case(O, P + "test_outer", "outer", lambda a, b: MX.outer(a, b), f32([1, 2, 3]), f32([4, 5]))
case(O, P + "test_inner", "inner", lambda a, b: MX.inner(a, b), normal(754, 2, 3), normal(755, 4, 3))
case(O, P + "test_kron", "kron", lambda a, b: MX.kron(a, b), normal(756, 2, 2), normal(757, 2, 3))
case(O, P + "test_tensordot", "tensordot",
     lambda a, b: [MX.tensordot(a, b, axes=1), MX.tensordot(a, b, axes=[[1], [0]])], normal(758, 3, 4), normal(759, 4, 5))
case(O, P + "test_roll", "roll", lambda a: [MX.roll(a, 2), MX.roll(a, -1, axis=1), MX.roll(a, [1, 2], axis=[0, 1])],
     normal(760, 3, 4))
case(O, P + "test_atleast_1d", "atleast", lambda a: [MX.atleast_1d(a), MX.atleast_2d(a), MX.atleast_3d(a)], f32(2.5))
case(O, P + "test_flip", "slicing_flip", lambda a: a[::-1], normal(761, 5))
case(O, P + "test_empty_matmuls", "empty", lambda a, b: a @ b, np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32))
case(O, P + "test_sort", "sort", lambda a: [MX.sort(a), MX.argsort(a, axis=0)], normal(762, 3, 4))
case(O, P + "test_partition", "topk", lambda a: MX.topk(a, 2), normal(763, 6))
case(O, P + "test_take", "take", lambda a, i: MX.take(a, i, axis=0), normal(764, 4, 3), i32([3, 0, 0]))
case(O, P + "test_take_along_axis", "take_along_axis",
     lambda a, i: MX.take_along_axis(a, i, axis=1), normal(765, 2, 3), i32([[2, 0], [1, 1]]))
BL = "python/tests/test_blas.py::TestBlas::"
for sa, sb in [((4, 5), (5, 3)), ((2, 4, 5), (5, 3)), ((2, 1, 4, 5), (3, 5, 2)), ((5,), (5, 3)), ((4, 5), (5,))]:
    case(O, BL + "test_matmul_batched", f"{sa}@{sb}", lambda a, b: a @ b, normal(770, *sa), normal(771, *sb))
case(O, BL + "test_addmm", "addmm", lambda c, a, b: MX.addmm(c, a, b, alpha=0.5, beta=2.0),
     normal(772, 4, 3), normal(773, 4, 5), normal(774, 5, 3))
case(O, BL + "test_matmul_grad", "grad", lambda a, b: MX.grad(lambda u, v: MX.sum(u @ v), argnums=[0, 1])(a, b),
     normal(775, 3, 4), normal(776, 4, 2))
EI = "python/tests/test_einsum.py::TestEinsum::"
for spec, shapes in [("ij,jk->ik", [(3, 4), (4, 2)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
                     ("ijk->kji", [(2, 3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("i,j->ij", [(3,), (4,)]),
                     ("ij->", [(3, 4)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)])]:
    fn = (lambda a, spec=spec: MX.einsum(spec, a)) if len(shapes) == 1 else (lambda a, b, spec=spec: MX.einsum(spec, a, b))
    case(O, EI + "test_simple_path" if len(shapes) == 1 else EI + "test_opt_einsum_test_cases", spec,
         fn, *[normal(780 + k, *s) for k, s in enumerate(shapes)])

# ---- autograd: test_autograd.py ------------------------------------------------------
G = "autograd"
AG = "python/tests/test_autograd.py::TestAutograd::"
one, two, three, four = f32(1.0), f32(2.0), f32(3.0), f32(4.0)
case(G, AG + "test_jvp", "scale", lambda x, t: MX.jvp(lambda z: 2 * z, [x], [t]), one, two)
case(G, AG + "test_jvp", "product", lambda x, y, a, b: MX.jvp(lambda u, v: u * v, [x, y], [a, b])[1],
     four, two, three, two)
case(G, AG + "test_jvp", "two_outputs", lambda x, y, z: MX.jvp(lambda u, v, w: (u * v, v * w), [x, y, z],
     [one, three, one])[1], two, four, f32(6.0))
case(G, AG + "test_jvp_with_constant_inputs", "where_const",
     lambda t: MX.jvp(lambda z: MX.where((z + 1) ** 2 > -1, (z + 1) ** 2, 999.0), [t], [one])[1], f32(0.0))
case(G, AG + "test_jvp_with_constant_inputs", "arctan2",
     lambda y: MX.jvp(lambda z: MX.arctan2(z, MX.array(2.0)), [y], [one])[1], one)
case(G, AG + "test_jvp_through_bitwise_ops", "mask",
     lambda x: MX.jvp(lambda z: z + ((z == 0) & (z > -1)).astype(float32), [x], [MX.ones_like(x)])[1], f32([0, 1, 2]))
case(G, AG + "test_jvp_comparison_tangent_dtype", "greater",
     lambda x: MX.jvp(lambda z: MX.greater(z, 0.0), [x], [MX.ones_like(x)])[1], f32([1, -2, 3]))
case(G, AG + "test_vjp", "scale", lambda x, c: MX.vjp(lambda z: 2 * z, [x], [c]), one, two)
case(G, AG + "test_vjp", "product", lambda x, y, c: MX.vjp(lambda u, v: u * v, [x, y], [c])[1], four, two, three)
case(G, AG + "test_vjp", "two_outputs", lambda x, y, z: MX.vjp(lambda u, v, w: (u * v, v * w), [x, y, z],
     [one, one])[1], two, four, f32(6.0))
case(G, AG + "test_grad", "square", lambda x: MX.grad(lambda z: z * z)(x), f32(1.5))
case(G, AG + "test_grad", "sum_square", lambda x: MX.grad(lambda z: MX.sum(z * z))(x), f32([1, 2, 3]))
case(G, AG + "test_grad", "argnums", lambda x, y: MX.grad(lambda u, v: u * v, argnums=1)(x, y), two, three)
case(G, AG + "test_grad", "argnums_both", lambda x, y: MX.grad(lambda u, v: u * v * v, argnums=[0, 1])(x, y), two, three)
case(G, AG + "test_grad", "second_order", lambda x: MX.grad(MX.grad(lambda z: z * z * z))(x), two)
case(G, AG + "test_grad", "non_scalar", lambda x: MX.grad(lambda z: z * 2.0)(x), f32([1, 2]))
case(G, AG + "test_grad", "int_input", lambda x: MX.grad(lambda z: z * z)(x), np.array(2, np.int32))
case(G, AG + "test_auxiliary_values", "value_and_grad",
     lambda x: MX.value_and_grad(lambda z: MX.sum(MX.exp(z)))(x), f32([0.5, -1.0]))
case(G, AG + "test_captured", "closure", lambda x, y: MX.grad(lambda z: MX.sum(z * y))(x), f32([1, 2]), f32([3, 4]))
case(G, AG + "test_stop_gradient", "stop", lambda x: MX.grad(lambda z: MX.sum(MX.stop_gradient(z) * z))(x), f32([2, 3]))
case(G, AG + "test_power_grad", "zero_base",
     lambda x, y: MX.grad(lambda u, v: MX.sum(MX.power(u, v)), argnums=[0, 1])(x, y), f32([0.0, 1.0, 2.0]), f32([2, 2, 0.5]))
case(G, AG + "test_cumprod_grad", "zeros",
     lambda x: MX.grad(lambda z: MX.sum(MX.cumprod(z)))(x), f32([2, 0, 3, 0, 4]))
case(G, AG + "test_cumprod_grad", "reverse",
     lambda x: MX.grad(lambda z: MX.sum(MX.cumprod(z, reverse=True)))(x), f32([2, 1, 3, 5]))
case(G, AG + "test_cummax_grad", "cummax", lambda x: MX.grad(lambda z: MX.sum(MX.cummax(z)))(x), f32([1, 3, 2, 5, 4]))
case(G, AG + "test_cummin_grad", "cummin", lambda x: MX.grad(lambda z: MX.sum(MX.cummin(z)))(x), f32([4, 3, 5, 1, 2]))
case(G, AG + "test_logsumexp_grad", "inf", lambda x: MX.grad(lambda z: MX.logsumexp(z))(x), f32([-np.inf, 0.0, 1.0]))
case(G, AG + "test_split_against_slice", "split",
     lambda x: MX.grad(lambda z: MX.sum(MX.split(z, 2, axis=0)[1] * 3.0))(x), normal(800, 4, 2))
case(G, AG + "test_concatenate_vjps", "concat",
     lambda x, y: MX.grad(lambda u, v: MX.sum(MX.concatenate([u, v]) * MX.arange(5.0)), argnums=[0, 1])(x, y),
     f32([1, 2]), f32([3, 4, 5]))
case(G, AG + "test_flatten_unflatten_vjps", "flatten",
     lambda x: MX.vjp(lambda z: MX.flatten(z), [x], [MX.arange(6.0)])[1], normal(801, 2, 3))
case(G, AG + "test_matmul_jvps", "matmul",
     lambda a, b, ta, tb: MX.jvp(lambda u, v: u @ v, [a, b], [ta, tb])[1],
     normal(802, 3, 4), normal(803, 4, 2), normal(804, 3, 4), normal(805, 4, 2))
case(G, AG + "test_slice_grads", "slice",
     lambda x: MX.grad(lambda z: MX.sum(z[1:, ::2] ** 2))(x), normal(806, 3, 4))
case(G, AG + "test_reduce_jvp", "reductions",
     lambda x, t: [MX.jvp(lambda z: MX.sum(z, axis=0), [x], [t])[1], MX.jvp(lambda z: MX.max(z, axis=1), [x], [t])[1],
                   MX.jvp(lambda z: MX.prod(z), [x], [t])[1], MX.jvp(lambda z: MX.mean(z, axis=1), [x], [t])[1]],
     uniform(807, 2, 3, lo=0.5, hi=2), normal(808, 2, 3))
case(G, AG + "test_second_order_permutation_ops", "hessian_vector",
     lambda x, v: MX.jvp(MX.grad(lambda z: MX.sum(MX.transpose(z) ** 3)), [x], [v])[1], normal(809, 2, 3), normal(810, 2, 3))
case(G, AG + "test_topk_grad", "topk", lambda x: MX.grad(lambda z: MX.sum(MX.topk(z, 2)))(x), f32([1, 4, 2, 3]))
case(G, AG + "test_sort_grad", "sort", lambda x: MX.grad(lambda z: MX.sum(MX.sort(z) * MX.arange(4.0)))(x),
     f32([3, 1, 4, 2]))
case(G, AG + "test_grad_with_copies", "copies", lambda x: MX.grad(lambda z: MX.sum(z + z + z))(x), f32([1, 2]))
case(G, AG + "test_vjp_types", "f16", lambda x: MX.vjp(lambda z: z * 2, [x.astype(float16)], [MX.ones(2, dtype=float16)])[1],
     f32([1, 2]))
for op in ["exp", "log", "sin", "tanh", "sigmoid", "sqrt", "abs", "erf", "log1p"]:
    case(G, AG + "test_vjp", f"{op}_vjp",
         lambda x, c, op=op: MX.vjp(lambda z: call(op, z), [x], [c])[1], uniform(820, 6, lo=0.2, hi=2), normal(821, 6))
    case(G, AG + "test_jvp", f"{op}_jvp",
         lambda x, t, op=op: MX.jvp(lambda z: call(op, z), [x], [t])[1], uniform(822, 6, lo=0.2, hi=2), normal(823, 6))

# ---- vmap: test_vmap.py --------------------------------------------------------------
V = "vmap"
VM = "python/tests/test_vmap.py::TestVmap::"
case(V, VM + "test_basics", "scalar_input", lambda x: MX.vmap(MX.exp)(x), f32(1.0))
case(V, VM + "test_basics", "bad_in_axis", lambda x: MX.vmap(MX.exp, in_axes=2)(x), f32([0, 1]))
case(V, VM + "test_basics", "bad_out_axis", lambda x: MX.vmap(MX.exp, out_axes=2)(x), f32([0, 1]))
for op in ["abs", "cos", "erf", "erfinv", "exp", "log", "log1p", "log2", "log10", "negative", "reciprocal", "rsqrt",
           "sigmoid", "sign", "sin", "sqrt", "square", "degrees", "radians"]:
    f = lambda z, op=op: call(op, z)
    case(V, VM + "test_unary", op, lambda x, f=f: [MX.vmap(f)(x[0]), MX.vmap(f)(x), MX.vmap(f, in_axes=1, out_axes=1)(x)],
         uniform(900, 2, 4, lo=0.05, hi=0.95))
for op in ["add", "divide", "equal", "greater", "greater_equal", "less", "less_equal", "logaddexp", "maximum", "minimum",
           "multiply", "power", "subtract"]:
    f = lambda u, v, op=op: call(op, u, v)
    case(V, VM + "test_binary", op, lambda x, y, yt, f=f: [
        MX.vmap(f)(x, y), MX.vmap(f, in_axes=[0, 1], out_axes=0)(x, yt), MX.vmap(f, in_axes=[0, 1], out_axes=1)(x, yt)],
        uniform(901, 2, 4), uniform(902, 2, 4), uniform(903, 4, 2))
for op in ["sum", "prod", "max", "min", "mean", "all", "any"]:
    case(V, VM + ("test_vmap_reduce" if op != "mean" else "test_vmap_mean"), op, lambda x, op=op: [
        MX.vmap(lambda z: call(op, z))(x), MX.vmap(lambda z: call(op, z, axis=0))(x),
        MX.vmap(lambda z: call(op, z, axis=1, keepdims=True), in_axes=1)(x)],
        uniform(904, 3, 4, 5, lo=0.5, hi=1.5) if op not in ("all", "any") else uniform(905, 3, 4, 5) > 0.3)
for op in ["argmax", "argmin"]:
    case(V, VM + "test_vmap_argreduce", op, lambda x, op=op: [
        MX.vmap(lambda z: call(op, z))(x), MX.vmap(lambda z: call(op, z, axis=0), in_axes=1)(x)], normal(906, 3, 4, 5))
case(V, VM + "test_mismatch_input_sizes", "mismatch", lambda x, y: MX.vmap(lambda u, v: u + v)(x, y),
     normal(907, 3, 2), normal(908, 2, 2))
case(V, VM + "test_vmap_matmul", "matmul", lambda a, b, c: [
    MX.vmap(lambda u, v: u @ v)(a, b), MX.vmap(lambda u, v: u @ v, in_axes=[0, None])(a, c),
    MX.vmap(lambda u, v: u @ v, in_axes=[None, 0])(c.T, b)], normal(909, 2, 3, 4), normal(910, 2, 4, 2), normal(911, 4, 2))
case(V, VM + "test_vmap_const_func", "const", lambda x, y: [
    MX.vmap(lambda u, v: MX.array(3.0), in_axes=[0, None])(x, y), MX.vmap(lambda u, v: v, in_axes=[0, None])(x, y)], normal(912, 3, 2), normal(913, 2))
case(V, VM + "test_vmap_concatenate", "concat", lambda x, y: [
    MX.vmap(lambda u, v: MX.concatenate([u, v], axis=0))(x, y),
    MX.vmap(lambda u, v: MX.concatenate([u, v], axis=0), in_axes=[0, None])(x, y[0])], normal(914, 2, 3, 4), normal(915, 2, 2, 4))
case(V, VM + "test_vmap_split_vmap", "split", lambda x: MX.vmap(lambda z: MX.split(z, 2, axis=0))(x), normal(916, 3, 4))
case(V, VM + "test_vmap_flatten", "flatten", lambda x: [MX.vmap(lambda z: MX.flatten(z))(x),
                                                      MX.vmap(lambda z: MX.flatten(z), in_axes=1)(x)], normal(917, 2, 3, 4))
case(V, VM + "test_vmap_pad", "pad", lambda x: MX.vmap(lambda z: MX.pad(z, [[1, 0], [0, 2]]))(x), normal(918, 2, 3, 4))
case(V, VM + "test_broadcast_axes_vmap", "broadcast", lambda x, y: MX.vmap(lambda u, v: u + v, in_axes=[0, None])(x, y),
     normal(919, 3, 1, 4), normal(920, 2, 1))
case(V, VM + "test_vmap_sort", "sort", lambda x: MX.vmap(lambda z: MX.sort(z))(x), normal(921, 3, 4))
case(V, VM + "test_vmap_take_along_axis", "take_along_axis",
     lambda x, i: MX.vmap(lambda u, v: MX.take_along_axis(u, v, axis=0))(x, i), normal(922, 2, 4), i32([[1, 0], [3, 3]]))
VG = "python/tests/test_autograd.py::TestAutograd::"
case(V, VM + "test_vmap_reduce", "per_example_grad",
     lambda w, x: MX.vmap(MX.grad(lambda u, v: MX.sum(MX.tanh(v @ u))), in_axes=[None, 0])(w, x),
     normal(923, 4, 3), normal(924, 5, 2, 4))
case(V, VM + "test_vmap_matmul", "jvp_of_vmap", lambda x, t: MX.jvp(MX.vmap(lambda z: MX.sum(MX.sin(z))), [x], [t])[1],
     normal(925, 3, 4), normal(926, 3, 4))
case(V, VM + "test_unary", "nested", lambda x: MX.vmap(MX.vmap(lambda z: MX.exp(z) * 2.0))(x), normal(927, 2, 3, 4))

# ---- custom_vjp: tests/custom_vjp_tests.cpp, test_autograd.py::test_custom_function ---
C = "custom_vjp"
CC = "tests/custom_vjp_tests.cpp::"
CP = AG + "test_custom_function"
mul_add = lambda u, v: (u * v, u + v)
case(C, CC + "test simple custom vjp", "plain", lambda x, y: MX.vjp(mul_add, [x, y], [one, one]), two, three)
case(C, CC + "test simple custom vjp", "custom",
     lambda x, y: MX.vjp(custom(mul_add, vjp=lambda p, c, o: [MX.array(1.0), MX.array(1.0)]), [x, y], [one, one]),
     two, three)
case(C, CC + "test checkpointing", "checkpoint",
     lambda x, y: MX.vjp(MX.checkpoint(lambda u, v: MX.square(u * v + (u + v))), [x, y], [one]), two, three)
my_exp = custom(lambda z: MX.exp(z))
case(C, CP, "no_rules", lambda x, xs: [MX.grad(my_exp)(x), MX.jvp(my_exp, [x], [one]), MX.vmap(my_exp)(xs)],
     one, np.ones(10, np.float32))
my_exp42 = custom(lambda z: MX.exp(z), vjp=lambda x, dx, ex: MX.ones_like(x) * 42)
case(C, CP, "vjp_only", lambda x, xs: [MX.grad(my_exp42)(x), MX.jvp(my_exp42, [x], [one]), MX.vmap(my_exp42)(xs)],
     one, np.ones(10, np.float32))
my_exp_all = custom(lambda z: MX.exp(z), vjp=lambda x, dx, ex: MX.ones_like(x) * 42,
                    jvp=lambda x, dx: MX.ones_like(x) * 7 * dx, vmap=lambda x, axis: (MX.ones_like(x) * 3, axis))
case(C, CP, "all_rules", lambda x, xs: [MX.grad(my_exp_all)(x), MX.jvp(my_exp_all, [x], [one]), MX.vmap(my_exp_all)(xs)],
     one, np.ones(10, np.float32))
clip_grad = custom(lambda z: z * 1.0, vjp=lambda x, c, o: MX.clip(c, -1.0, 1.0))
case(C, CP, "clipped_grad", lambda x: MX.grad(lambda z: MX.sum(clip_grad(z) * MX.arange(4.0) * 2.0))(x), f32([1, 2, 3, 4]))
two_in = custom(lambda u, v: u * v, vjp=lambda p, c, o: [c * p[1] * 2.0, c * p[0] * 3.0])
case(C, CP, "two_inputs", lambda x, y: MX.grad(lambda u, v: MX.sum(two_in(u, v)), argnums=[0, 1])(x, y),
     f32([1, 2]), f32([3, 4]))
case(C, CP, "vmap_of_grad", lambda xs: MX.vmap(MX.grad(lambda z: MX.sum(my_exp42(z))))(xs), normal(930, 3, 2))

# ---- compile: test_compile.py --------------------------------------------------------
K = "compile"
CM = "python/tests/test_compile.py::TestCompile::"
case(K, CM + "test_simple_compile", "simple", lambda x, y: MX.compile(lambda u, v: u + v)(x, y), one, two)
case(K, CM + "test_compile_grad", "grad", lambda x: MX.compile(MX.grad(lambda z: MX.sum(MX.exp(z))))(x), f32([1, 2]))
case(K, CM + "test_compile_two_input_grad", "two_input_grad",
     lambda x, y: MX.compile(MX.grad(lambda u, v: MX.sum(u * v), argnums=[0, 1]))(x, y), f32([1, 2]), f32([3, 4]))
case(K, CM + "test_vmap_compiled", "vmap", lambda x: MX.vmap(MX.compile(lambda z: MX.exp(z) * 2.0))(x), normal(940, 3, 2))
case(K, CM + "test_compile_with_closure", "closure", lambda x, y: MX.compile(lambda z: z + y)(x), one, two)
case(K, CM + "test_compile_multi_output", "multi_output",
     lambda x: MX.compile(lambda z: (MX.exp(z), MX.sum(z), z * 2.0))(x), normal(941, 4))
case(K, CM + "test_compile_with_constant", "constant", lambda x: MX.compile(lambda z: z * 3.0 + 1.0)(x), normal(942, 4))
case(K, CM + "test_compile_broadcast_only", "broadcast", lambda x: MX.compile(lambda z: MX.broadcast_to(z, [3, 4]))(x),
     normal(943, 4))
case(K, CM + "test_shapeless_compile", "shapeless",
     lambda x, y: [MX.compile(lambda z: MX.exp(z) + 1.0, shapeless=True)(x), MX.compile(lambda z: MX.exp(z) + 1.0,
                                                                                       shapeless=True)(y)],
     normal(944, 3), normal(945, 5))
case(K, CM + "test_compile_inf", "inf", lambda x: MX.compile(lambda z: MX.maximum(z, -np.inf))(x), normal(946, 3))
case(K, CM + "test_compile_negative_strides", "negative_strides", lambda x: MX.compile(lambda z: z[::-1] * 2.0)(x),
     normal(947, 5))
case(K, CM + "test_compile_different_log_bases", "log_bases",
     lambda x: MX.compile(lambda z: [MX.log(z), MX.log2(z), MX.log10(z)])(x), uniform(948, 4, lo=0.5, hi=3))

# ---- export_import: test_load.py (files written by MLX, loaded by Psionic) -----------
# The bytes MLX wrote are an input; `load` reads them with the named format.
X = "export_import"
LD = "python/tests/test_load.py::TestLoad::"
LOAD_CASES = [
    ("test_save_and_load", "npy_f32", "npy", {"x": normal(950, 3, 4)}),
    ("test_save_and_load", "npy_i32", "npy", {"x": i32([[1, -2], [3, 4]])}),
    ("test_load_npy_dtype", "npy_f16", "npy", {"x": normal(951, 5).astype(np.float16)}),
    ("test_save_and_load_safetensors", "safetensors", "safetensors",
     {"a": normal(952, 2, 3), "b": i32([1, 2, 3]), "c": np.array([True, False])}),
    ("test_savez_and_loadz", "npz", "npz", {"w": normal(953, 4), "b": normal(954, 2, 2).astype(np.float64)}),
    ("test_save_and_load_empty", "empty", "safetensors", {"e": np.zeros((0, 3), np.float32)}),
    ("test_non_contiguous", "non_contiguous", "safetensors", {"t": normal(955, 3, 4).T}),
]

# ---- nn_optimizers_quantized: test_nn.py, test_losses.py, test_optimizers.py ---------
N = "nn_optimizers_quantized"
NNT = "python/tests/test_nn.py::TestLayers::"
x_act = normal(960, 3, 5) * 3
for act, kw in [("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}),
                ("celu", {"alpha": 1.5}), ("selu", {}), ("silu", {}), ("gelu", {}), ("gelu_approx", {}),
                ("mish", {}), ("softplus", {}), ("log_sigmoid", {}), ("hardswish", {}), ("softsign", {}),
                ("hard_tanh", {}), ("hard_shrink", {}), ("softmin", {}), ("log_softmax", {}), ("sigmoid", {}),
                ("tanh", {})]:
    case(N, NNT + f"test_{act}", act, lambda x, act=act, kw=kw: getattr(NN, act)(x, **kw), x_act)
    case(N, NNT + f"test_{act}", act + "_grad", lambda x, act=act, kw=kw: MX.grad(lambda z: MX.sum(getattr(NN, act)(z, **kw)))(x),
         x_act + 0.01)
LS = "python/tests/test_losses.py::TestLosses::"
logits, targets = normal(970, 4, 5), i32([0, 3, 1, 4])
preds, labels = uniform(971, 6, lo=0.05, hi=0.95), f32([0, 1, 1, 0, 1, 0])
case(N, LS + "test_cross_entropy", "mean", lambda l, t: NN.losses.cross_entropy(l, t, reduction="mean"), logits, targets)
case(N, LS + "test_cross_entropy", "smoothing", lambda l, t: NN.losses.cross_entropy(l, t, label_smoothing=0.1), logits, targets)
case(N, LS + "test_binary_cross_entropy", "probs", lambda p, y: NN.losses.binary_cross_entropy(p, y, with_logits=False),
     preds, labels)
case(N, LS + "test_binary_cross_entropy", "logits", lambda p, y: NN.losses.binary_cross_entropy(p, y, reduction="sum"),
     normal(972, 6), labels)
for loss in ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss", "log_cosh_loss"]:
    case(N, LS + f"test_{loss}", loss, lambda p, y, loss=loss: getattr(NN.losses, loss)(p, y, reduction="mean"),
         normal(973, 3, 4), normal(974, 3, 4))
case(N, LS + "test_nll_loss", "nll", lambda l, t: NN.losses.nll_loss(l, t), normal(975, 4, 5), targets)
case(N, LS + "test_kl_div_loss", "kl", lambda p, q: NN.losses.kl_div_loss(p, q, reduction="sum"),
     np.log(uniform(976, 3, 4, lo=0.1, hi=1)), np.log(uniform(977, 3, 4, lo=0.1, hi=1)))
case(N, LS + "test_cross_entropy", "grad", lambda l, t: MX.grad(lambda z: NN.losses.cross_entropy(z, t, reduction="mean"))(l),
     logits, targets)
OPT = "python/tests/test_optimizers.py::TestOptimizers::"
params0 = {"w": normal(980, 3, 2), "b": normal(981, 2)}
grads = [{"w": normal(982 + k, 3, 2), "b": normal(990 + k, 2)} for k in range(3)]
OPTIMIZER_CASES = [
    ("test_sgd", "sgd_momentum", "SGD", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    ("test_sgd", "sgd_nesterov", "SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("test_adam", "adam", "Adam", {"learning_rate": 0.01}),
    ("test_adamw", "adamw", "AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("test_rmsprop", "rmsprop", "RMSprop", {"learning_rate": 0.01}),
    ("test_adagrad", "adagrad", "Adagrad", {"learning_rate": 0.1}),
    ("test_lion", "lion", "Lion", {"learning_rate": 0.01}),
]
TR = "python/tests/test_tree.py::TestTreeUtils::"
case(N, "python/tests/test_quantized.py::TestQuantized::test_quantize_dequantize", "roundtrip",
     lambda w: (lambda q: MX.dequantize(q[0], q[1], q[2], group_size=32, bits=8))(MX.quantize(w, group_size=32, bits=8)),
     normal(995, 4, 64))

# ---- distributed: mlx_distributed_tests.py (a group of one) --------------------------
DI = "distributed"
DS = "python/tests/mlx_distributed_tests.py::MLXDistributedCommonTestCase::"
case(DI, DS + "test_all_reduce", "all_sum_singleton", lambda x: call("distributed.all_sum", x), normal(996, 3, 4))
case(DI, DS + "test_all_gather", "all_gather_singleton", lambda x: call("distributed.all_gather", x), normal(997, 2, 3))
