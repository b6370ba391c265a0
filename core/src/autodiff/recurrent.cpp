// The fused recurrent layer: the time loop of an LSTM, GRU or plain RNN as one graph node.
// The input projection of all steps is one GEMM done by the caller; here each step does one
// small GEMM with W_hh and a fused pass over the gates, and the backward accumulates dW_hh
// over all steps with one large GEMM at the end.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "autodiff/op_support.hpp"
#include "tensor/kernels.hpp"
#include "loom/errors.hpp"
#include "loom/ops.hpp"
#include "loom/parallel.hpp"

namespace loom {

using kernels::fast_sigmoid;
using kernels::fast_tanh;
using kernels::gemm;
using kernels::gemm_serial;

int gate_count(CellType cell) {
  switch (cell) {
    case CellType::kLstm: return 4;
    case CellType::kGru: return 3;
    default: return 1;
  }
}

namespace {

void check(bool ok, const std::string& message) {
  if (!ok) throw AssertionError("recurrent_layer: " + message);
}

// What the forward keeps for the backward.
struct Saved {
  CellType cell;
  std::int64_t steps, batch, hidden, gates;
  Tensor acts;    // [T, B, G*H] gate activations after their nonlinearity
  Tensor cells;   // [T, B, H] LSTM cell states
  Tensor hproj_n; // [T, B, H] GRU: W_hn h + b_hn (needed for the reset gate's gradient)
  Tensor h0, c0;
  Tensor mask;     // [T, B]: 0 where a step is padding (the state carries over); undefined: none
  Tensor dc_last;  // [B, H] gradient flowing into the last cell state (LSTM), filled by c_last
};

// One row of an LSTM step: the gates from x_proj + h W_hh^T + b_hh (xr, hr: [4H], gate order
// i f g o), then c = f c' + i g and h = o tanh c. Every output is its own restrict pointer so
// that the loop vectorises.
void lstm_forward_row(const float* xr, const float* hr, float* __restrict ai, float* __restrict af,
                      float* __restrict ag, float* __restrict ao, const float* c_prev, float* __restrict c,
                      float* __restrict h, std::int64_t H) {
  for (std::int64_t j = 0; j < H; ++j) {
    const float i = fast_sigmoid(xr[j] + hr[j]);
    const float f = fast_sigmoid(xr[H + j] + hr[H + j]);
    const float g = fast_tanh(xr[2 * H + j] + hr[2 * H + j]);
    const float o = fast_sigmoid(xr[3 * H + j] + hr[3 * H + j]);
    ai[j] = i;
    af[j] = f;
    ag[j] = g;
    ao[j] = o;
    const float cv = f * c_prev[j] + i * g;
    c[j] = cv;
    h[j] = o * fast_tanh(cv);
  }
}

// Its gradient: from dh (dh_next + d_out) and dc_next, the gates' pre-activation gradients;
// dc_next becomes the gradient of the previous cell state.
void lstm_backward_row(const float* ar, const float* c, const float* c_prev, const float* d_out,
                       const float* dh_next, float* __restrict dc_next, float* __restrict di, float* __restrict df,
                       float* __restrict dg, float* __restrict d_o, std::int64_t H) {
  for (std::int64_t j = 0; j < H; ++j) {
    const float i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
    const float dh = dh_next[j] + (d_out ? d_out[j] : 0.0f);
    const float tc = fast_tanh(c[j]);
    const float dc = dc_next[j] + dh * o * (1.0f - tc * tc);
    di[j] = dc * g * i * (1.0f - i);
    df[j] = dc * c_prev[j] * f * (1.0f - f);
    dg[j] = dc * i * (1.0f - g * g);
    d_o[j] = dh * tc * o * (1.0f - o);
    dc_next[j] = dc * f;
  }
}

// Runs rows [r0, r1) of the batch through all steps; `hp` is scratch for [B, G*H] of which
// these rows are used. Rows are independent, so row groups run on different threads.
void forward_loop(Saved& s, const float* x_proj, const float* w_hh, const float* b_hh,
                  float* out, float* hp, std::int64_t r0, std::int64_t r1) {
  const std::int64_t B = s.batch, H = s.hidden, G = s.gates, GH = G * H, R = r1 - r0;
  float* acts = s.acts.data();
  const float* h_prev = s.h0.data();
  const float* c_prev = s.cell == CellType::kLstm ? s.c0.data() : nullptr;
  const float* mask = s.mask.defined() ? s.mask.data() : nullptr;
  for (std::int64_t t = 0; t < s.steps; ++t) {
    const float* c_old = c_prev;
    for (std::int64_t b = r0; b < r1; ++b) std::copy_n(b_hh, GH, hp + b * GH);
    gemm_serial(false, true, R, GH, H, 1.0f, h_prev + r0 * H, H, w_hh, H, 1.0f, hp + r0 * GH, GH);
    const float* xp = x_proj + t * B * GH;
    float* a = acts + t * B * GH;
    float* h = out + t * B * H;
    switch (s.cell) {
      case CellType::kLstm: {
        float* c = s.cells.data() + t * B * H;
        for (std::int64_t b = r0; b < r1; ++b) {
          const float* xr = xp + b * GH;
          const float* hr = hp + b * GH;
          float* ar = a + b * GH;
          lstm_forward_row(xr, hr, ar, ar + H, ar + 2 * H, ar + 3 * H, c_prev + b * H, c + b * H, h + b * H, H);
        }
        c_prev = c;
        break;
      }
      case CellType::kGru: {
        float* hn = s.hproj_n.data() + t * B * H;
        for (std::int64_t b = r0; b < r1; ++b) {
          const float* xr = xp + b * GH;
          const float* hr = hp + b * GH;
          float* ar = a + b * GH;
          for (std::int64_t j = 0; j < H; ++j) {
            float r = fast_sigmoid(xr[j] + hr[j]);
            float z = fast_sigmoid(xr[H + j] + hr[H + j]);
            float n = fast_tanh(xr[2 * H + j] + r * hr[2 * H + j]);  // n = tanh(x_n + r hp_n)
            ar[j] = r;
            ar[H + j] = z;
            ar[2 * H + j] = n;
            hn[b * H + j] = hr[2 * H + j];
            h[b * H + j] = (1.0f - z) * n + z * h_prev[b * H + j];  // h = (1-z) n + z h'
          }
        }
        break;
      }
      case CellType::kRnnTanh:
      case CellType::kRnnRelu: {
        bool use_tanh = s.cell == CellType::kRnnTanh;
        for (std::int64_t i = r0 * H; i < r1 * H; ++i) {
          float pre = xp[i] + hp[i];
          float v = use_tanh ? fast_tanh(pre) : (pre > 0.0f ? pre : 0.0f);
          a[i] = v;
          h[i] = v;
        }
        break;
      }
    }
    // A padded step keeps the state it was given, so the last state is that of the last
    // real step, as with packed sequences.
    if (mask)
      for (std::int64_t b = r0; b < r1; ++b)
        if (mask[t * B + b] == 0.0f) {
          std::copy_n(h_prev + b * H, H, h + b * H);
          if (s.cell == CellType::kLstm) std::copy_n(c_old + b * H, H, s.cells.data() + t * B * H + b * H);
        }
    h_prev = h;
  }
}

// Gradients: d_out [T, B, H] (may be null: no gradient reached the outputs);
// writes d_gates [T, B, G*H] (with respect to x_proj) and d_hproj [T, B, G*H] (with respect
// to the h W_hh^T + b_hh term; the same as d_gates except for GRU), and returns dh0, dc0.
// Rows [r0, r1) only, as forward_loop; dh_next, dc_next, pass_h and pass_c are [B, H]
// scratch (pass_*: only with a mask) of which these rows are used.
void backward_loop(const Saved& s, const float* out, const float* d_out, const float* w_hh,
                   float* d_gates, float* d_hproj, float* dh0, float* dc0, float* dh_next, float* dc_next,
                   float* pass_h_data, float* pass_c_data, std::int64_t r0, std::int64_t r1) {
  const std::int64_t B = s.batch, H = s.hidden, G = s.gates, GH = G * H, R = r1 - r0;
  std::fill(dh_next + r0 * H, dh_next + r1 * H, 0.0f);
  std::fill(dc_next + r0 * H, dc_next + r1 * H, 0.0f);
  if (s.cell == CellType::kLstm && s.dc_last.defined())
    std::copy(s.dc_last.data() + r0 * H, s.dc_last.data() + r1 * H, dc_next + r0 * H);
  const float* acts = s.acts.data();
  const float* mask = s.mask.defined() ? s.mask.data() : nullptr;
  // Padded steps: the gradient of the state passes straight to the step before.
  float* pass_h = mask ? pass_h_data : nullptr;
  float* pass_c = mask && s.cell == CellType::kLstm ? pass_c_data : nullptr;
  for (std::int64_t t = s.steps - 1; t >= 0; --t) {
    const float* a = acts + t * B * GH;
    const float* h_prev = t > 0 ? out + (t - 1) * B * H : s.h0.data();
    const float* dout_t = d_out ? d_out + t * B * H : nullptr;
    float* dg = d_gates + t * B * GH;
    float* dhp = d_hproj + t * B * GH;
    if (mask)
      for (std::int64_t b = r0; b < r1; ++b)
        if (mask[t * B + b] == 0.0f) {
          for (std::int64_t j = 0; j < H; ++j)
            pass_h[b * H + j] = dh_next[b * H + j] + (dout_t ? dout_t[b * H + j] : 0.0f);
          if (pass_c) std::copy_n(dc_next + b * H, H, pass_c + b * H);
        }
    switch (s.cell) {
      case CellType::kLstm: {
        const float* c = s.cells.data() + t * B * H;
        const float* c_prev = t > 0 ? c - B * H : s.c0.data();
        for (std::int64_t b = r0; b < r1; ++b) {
          const float* ar = a + b * GH;
          float* dr = dg + b * GH;
          lstm_backward_row(ar, c + b * H, c_prev + b * H, dout_t ? dout_t + b * H : nullptr, dh_next + b * H,
                            dc_next + b * H, dr, dr + H, dr + 2 * H, dr + 3 * H, H);
        }
        break;
      }
      case CellType::kGru: {
        const float* hn = s.hproj_n.data() + t * B * H;
        for (std::int64_t b = r0; b < r1; ++b) {
          const float* ar = a + b * GH;
          float* dr = dg + b * GH;
          float* dq = dhp + b * GH;
          for (std::int64_t j = 0; j < H; ++j) {
            std::int64_t k = b * H + j;
            float r = ar[j], z = ar[H + j], n = ar[2 * H + j];
            float dh = dh_next[k] + (dout_t ? dout_t[k] : 0.0f);
            float dn_pre = dh * (1.0f - z) * (1.0f - n * n);
            float dz_pre = dh * (h_prev[k] - n) * z * (1.0f - z);
            float dr_pre = dn_pre * hn[k] * r * (1.0f - r);
            dr[j] = dr_pre;
            dr[H + j] = dz_pre;
            dr[2 * H + j] = dn_pre;
            dq[j] = dr_pre;
            dq[H + j] = dz_pre;
            dq[2 * H + j] = dn_pre * r;
            dh_next[k] = dh * z;  // the direct path; W_hh's part is added below
          }
        }
        break;
      }
      case CellType::kRnnTanh:
      case CellType::kRnnRelu: {
        bool use_tanh = s.cell == CellType::kRnnTanh;
        for (std::int64_t k = r0 * H; k < r1 * H; ++k) {
          float dh = dh_next[k] + (dout_t ? dout_t[k] : 0.0f);
          float y = a[k];
          dg[k] = dh * (use_tanh ? 1.0f - y * y : (y > 0.0f ? 1.0f : 0.0f));
        }
        break;
      }
    }
    if (mask)
      for (std::int64_t b = r0; b < r1; ++b)
        if (mask[t * B + b] == 0.0f) {
          std::fill_n(dg + b * GH, GH, 0.0f);
          if (dhp != dg) std::fill_n(dhp + b * GH, GH, 0.0f);
          if (s.cell == CellType::kGru) std::fill_n(dh_next + b * H, H, 0.0f);
        }
    if (s.cell != CellType::kGru) {
      // dh_{t-1} = d_gates W_hh
      gemm_serial(false, false, R, H, GH, 1.0f, dg + r0 * GH, GH, w_hh, H, 0.0f, dh_next + r0 * H, H);
    } else {
      gemm_serial(false, false, R, H, GH, 1.0f, dhp + r0 * GH, GH, w_hh, H, 1.0f, dh_next + r0 * H, H);
    }
    if (mask)
      for (std::int64_t b = r0; b < r1; ++b)
        if (mask[t * B + b] == 0.0f) {
          std::copy_n(pass_h + b * H, H, dh_next + b * H);
          if (pass_c) std::copy_n(pass_c + b * H, H, dc_next + b * H);
        }
  }
  if (dh0) std::copy(dh_next + r0 * H, dh_next + r1 * H, dh0 + r0 * H);
  if (dc0 && s.cell == CellType::kLstm) std::copy(dc_next + r0 * H, dc_next + r1 * H, dc0 + r0 * H);
}

// Batch rows per group: each group runs the whole time loop on one thread. Fixed, so that
// results do not depend on the thread count.
constexpr std::int64_t kRowsPerGroup = 32;

template <class Body>
void for_row_groups(std::int64_t B, Body&& body) {
  parallel_chunks(B, kRowsPerGroup, body);
}

}  // namespace

RecurrentOutputs recurrent_layer(CellType cell, const Expr& x_proj, const Expr& w_hh,
                                 const Expr& b_hh, const Expr& h0, const Expr& c0, const Tensor& mask) {
  check(x_proj.defined() && w_hh.defined() && b_hh.defined() && h0.defined(), "undefined input");
  const Tensor& xv = x_proj.value();
  check(xv.rank() == 3, "x_proj must be [T, B, G*H], got " + xv.shape().str());
  const std::int64_t T = xv.dim(0), B = xv.dim(1), G = gate_count(cell);
  const std::int64_t H = w_hh.value().dim(1);
  check(w_hh.value().rank() == 2 && w_hh.value().dim(0) == G * H,
        "w_hh " + w_hh.shape().str() + " does not fit " + std::to_string(G) + " gates");
  check(xv.dim(2) == G * H, "x_proj " + xv.shape().str() + " does not fit hidden size " +
                                std::to_string(H));
  check(b_hh.value().numel() == G * H, "b_hh has " + std::to_string(b_hh.value().numel()) +
                                           " values, expected " + std::to_string(G * H));
  check(h0.value().shape() == Shape({B, H}), "h0 " + h0.shape().str() + " is not [B, H]");
  bool lstm = cell == CellType::kLstm;
  if (lstm) check(c0.defined() && c0.value().shape() == Shape({B, H}), "c0 must be [B, H]");
  check(T > 0, "empty sequence");
  if (mask.defined())
    check(mask.dtype() == DType::kFloat32 && mask.shape() == Shape({T, B}),
          "mask " + mask.shape().str() + " is not float [T, B] = [" + std::to_string(T) + ", " + std::to_string(B) + "]");

  auto saved = std::make_shared<Saved>();
  saved->cell = cell;
  saved->steps = T;
  saved->batch = B;
  saved->hidden = H;
  saved->gates = G;
  saved->acts = Tensor::empty(Shape{T, B, G * H});
  if (lstm) saved->cells = Tensor::empty(Shape{T, B, H});
  if (cell == CellType::kGru) saved->hproj_n = Tensor::empty(Shape{T, B, H});
  saved->h0 = h0.value();
  if (lstm) saved->c0 = c0.value();
  saved->mask = mask;
  Tensor out = Tensor::empty(Shape{T, B, H});
  Tensor scratch = Tensor::empty(Shape{B, G * H});
  for_row_groups(B, [&](std::int64_t r0, std::int64_t r1) {
    forward_loop(*saved, xv.data(), w_hh.value().data(), b_hh.value().data(), out.data(), scratch.data(), r0, r1);
  });

  Graph& graph = x_proj.graph();
  int xi = x_proj.id(), wi = w_hh.id(), bi = b_hh.id(), hi = h0.id();
  int ci = lstm ? c0.id() : -1;
  bool rg = x_proj.requires_grad() || w_hh.requires_grad() || b_hh.requires_grad() ||
            h0.requires_grad() || (lstm && c0.requires_grad());
  Expr outputs = graph.add_node(out, rg, [=](Graph& g, int self) {
    const Saved& s = *saved;
    const std::int64_t GH = G * H;
    Tensor d_gates = Tensor::empty(Shape{T, B, GH});
    Tensor d_hproj = cell == CellType::kGru ? Tensor::empty(Shape{T, B, GH}) : d_gates;
    Tensor dh0 = g.requires_grad(hi) ? Tensor::empty(Shape{B, H}) : Tensor();
    Tensor dc0 = lstm && g.requires_grad(ci) ? Tensor::empty(Shape{B, H}) : Tensor();
    const float* d_out = g.has_grad(self) ? g.grad(self).data() : nullptr;
    Tensor dh_next = Tensor::empty(Shape{B, H}), dc_next = Tensor::empty(Shape{B, H});
    Tensor pass_h = s.mask.defined() ? Tensor::empty(Shape{B, H}) : Tensor();
    Tensor pass_c = s.mask.defined() && lstm ? Tensor::empty(Shape{B, H}) : Tensor();
    const float* w = g.value(wi).data();
    const float* outputs_value = g.value(self).data();
    for_row_groups(B, [&](std::int64_t r0, std::int64_t r1) {
      backward_loop(s, outputs_value, d_out, w, d_gates.data(), d_hproj.data(),
                    dh0.defined() ? dh0.data() : nullptr, dc0.defined() ? dc0.data() : nullptr, dh_next.data(),
                    dc_next.data(), pass_h.defined() ? pass_h.data() : nullptr,
                    pass_c.defined() ? pass_c.data() : nullptr, r0, r1);
    });
    if (g.requires_grad(xi)) {
      const float* dg = d_gates.data();
      ops_detail::write_grad(g, xi, [&](float* gx, auto assign) {
        for (std::int64_t i = 0, n = d_gates.numel(); i < n; ++i) ops_detail::put(gx[i], dg[i], assign);
      });
    }
    if (g.requires_grad(wi)) {
      // dW_hh = sum_t d_hproj[t]^T h_{t-1}: one GEMM over all steps with h_{-1} = h0.
      Tensor h_prev = Tensor::empty(Shape{T, B, H});
      std::copy_n(s.h0.data(), B * H, h_prev.data());
      std::copy_n(g.value(self).data(), (T - 1) * B * H, h_prev.data() + B * H);
      gemm(true, false, GH, H, T * B, 1.0f, d_hproj.data(), GH, h_prev.data(), H, 1.0f,
           g.grad(wi).data(), H);
    }
    if (g.requires_grad(bi)) {
      float* gb = g.grad(bi).data();
      const float* dq = d_hproj.data();
      for (std::int64_t r = 0; r < T * B; ++r)
        for (std::int64_t j = 0; j < GH; ++j) gb[j] += dq[r * GH + j];
    }
    if (dh0.defined()) {
      float* gh = g.grad(hi).data();
      for (std::int64_t i = 0; i < B * H; ++i) gh[i] += dh0.data()[i];
    }
    if (dc0.defined()) {
      float* gc = g.grad(ci).data();
      for (std::int64_t i = 0; i < B * H; ++i) gc[i] += dc0.data()[i];
    }
  });

  RecurrentOutputs result;
  result.outputs = outputs;
  result.h_last = reshape(slice(outputs, 0, T - 1, T), Shape{B, H});
  if (lstm) {
    Tensor c_last = saved->cells.slice_rows(T - 1, T).view(Shape{B, H}).clone();
    int oi = outputs.id();
    result.c_last = graph.add_node(c_last, rg, [saved, oi](Graph& g, int self) {
      // The last cell state's gradient is consumed by the layer's own backward, which runs
      // after this one; make sure it runs even if nothing reached the outputs.
      saved->dc_last = g.grad(self).clone();
      g.grad(oi);
    });
  }
  return result;
}

}  // namespace loom
