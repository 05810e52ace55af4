// pcl-defense native engine: oneDNN kernels for tfjs tensors that live in the wasm heap.
//
// Every entry point takes the wasm heap (an ArrayBuffer, re-read by the caller on each call since
// the heap can grow and replace it) and byte offsets of float32 tensors in it, validates that each
// tensor lies inside the heap and that the shapes are consistent, and throws a JavaScript error
// otherwise; oneDNN errors are turned into JavaScript errors too. Nothing here keeps a pointer into
// the heap between calls.
//
// Per Node environment (main thread or worker thread) an Addon instance holds the oneDNN engine and
// stream, the OpenMP thread count for calls from that thread, and a cache of convolution primitives
// keyed by shape (primitive creation costs far more than a small convolution).
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dnnl.hpp"

namespace {

using dnnl::algorithm;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Activation codes shared with src/engine/native-kernels.ts.
enum Act { kLinear = 0, kRelu = 1, kRelu6 = 2, kElu = 3, kSigmoid = 4, kLeakyRelu = 5 };

struct Heap {
  uint8_t* base;
  size_t bytes;
};

Heap GetHeap(const Napi::Value& v) {
  if (!v.IsArrayBuffer()) throw Napi::TypeError::New(v.Env(), "heap: expected an ArrayBuffer");
  auto ab = v.As<Napi::ArrayBuffer>();
  return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
}

int64_t GetInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected an integer, got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

// A float32 tensor of `count` elements at byte `offset` of the heap, checked to lie inside it.
float* At(Napi::Env env, const Heap& h, int64_t offset, int64_t count, const char* name) {
  if (count < 0 || offset < 0 || offset % 4 != 0 ||
      static_cast<uint64_t>(offset) + static_cast<uint64_t>(count) * 4 > h.bytes) {
    throw Napi::RangeError::New(env, std::string(name) + ": " + std::to_string(count) + " floats at byte " +
                                         std::to_string(offset) + " do not fit in the " + std::to_string(h.bytes) +
                                         "-byte heap");
  }
  return reinterpret_cast<float*>(h.base + offset);
}

std::vector<int64_t> GetDims(const Napi::CallbackInfo& info, size_t i, size_t n, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected an Int32Array");
  }
  auto a = info[i].As<Napi::Int32Array>();
  if (a.ElementLength() != n) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + ": expected " + std::to_string(n) + " values, got " +
                                                std::to_string(a.ElementLength()));
  }
  std::vector<int64_t> v(n);
  for (size_t k = 0; k < n; k++) v[k] = a[k];
  return v;
}

// Convolution geometry, tfjs conventions (NHWC activations, HWIO filters, dilation 1 = none).
struct ConvGeom {
  int64_t n, h, w, ic, kh, kw, oc, oh, ow, sh, sw, dh, dw, pt, pl, pb, pr;
  static constexpr size_t kLen = 17;
  explicit ConvGeom(const std::vector<int64_t>& p)
      : n(p[0]), h(p[1]), w(p[2]), ic(p[3]), kh(p[4]), kw(p[5]), oc(p[6]), oh(p[7]), ow(p[8]), sh(p[9]), sw(p[10]),
        dh(p[11]), dw(p[12]), pt(p[13]), pl(p[14]), pb(p[15]), pr(p[16]) {}
  void Check(Napi::Env env) const {
    for (int64_t v : {n, h, w, ic, kh, kw, oc, oh, ow, sh, sw, dh, dw}) {
      if (v <= 0) throw Napi::RangeError::New(env, "conv: sizes, strides and dilations must be positive");
    }
    for (int64_t v : {pt, pl, pb, pr}) {
      if (v < 0) throw Napi::RangeError::New(env, "conv: padding must be non-negative");
    }
    const int64_t eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
    const int64_t wantH = (h + pt + pb - eh) / sh + 1, wantW = (w + pl + pr - ew) / sw + 1;
    if (h + pt + pb < eh || w + pl + pr < ew || wantH != oh || wantW != ow) {
      throw Napi::RangeError::New(env, "conv: output " + std::to_string(oh) + "x" + std::to_string(ow) +
                                           " does not match input " + std::to_string(h) + "x" + std::to_string(w) +
                                           " with filter " + std::to_string(kh) + "x" + std::to_string(kw) +
                                           " (expected " + std::to_string(wantH) + "x" + std::to_string(wantW) + ")");
    }
  }
  memory::dims Src() const { return {n, ic, h, w}; }
  memory::dims Wei() const { return {oc, ic, kh, kw}; }
  memory::dims Dst() const { return {n, oc, oh, ow}; }
  memory::dims Strides() const { return {sh, sw}; }
  memory::dims Dil() const { return {dh - 1, dw - 1}; }
  memory::dims PadL() const { return {pt, pl}; }
  memory::dims PadR() const { return {pb, pr}; }
  std::vector<int64_t> Key(int64_t kind, int64_t extra1, int64_t extra2) const {
    return {kind, n, h, w, ic, kh, kw, oc, oh, ow, sh, sw, dh, dw, pt, pl, pb, pr, extra1, extra2};
  }
};

// A cached convolution primitive with its user-format memories (pointers set per call) and the
// reorders between the user's HWIO filter and the primitive's preferred filter layout.
struct ConvEntry {
  dnnl::primitive prim;
  memory a, b, c, bias;         // user memories: the primitive's inputs/outputs in tfjs layouts
  memory weiPrim;               // weights in the primitive's layout (when it differs)
  bool reorderWei = false;
  dnnl::reorder weiReorder;     // user HWIO -> primitive layout (fwd, bwd data) or back (bwd weights)
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
    DefineAddon(exports, {
                             InstanceMethod("setThreads", &Addon::SetThreads),
                             InstanceMethod("info", &Addon::Info),
                             InstanceMethod("conv2d", &Addon::Conv2d),
                             InstanceMethod("conv2dBackpropInput", &Addon::Conv2dBackpropInput),
                             InstanceMethod("conv2dBackpropFilter", &Addon::Conv2dBackpropFilter),
                             InstanceMethod("matMul", &Addon::MatMul),
                             InstanceMethod("maxPool", &Addon::MaxPool),
                             InstanceMethod("maxPoolGrad", &Addon::MaxPoolGrad),
                             InstanceMethod("clearCache", &Addon::ClearCache),
                             InstanceMethod("mul", &Addon::Mul),
                             InstanceMethod("sum", &Addon::Sum),
                             InstanceMethod("adamUpdate", &Addon::AdamUpdate),
                             InstanceMethod("batchNorm", &Addon::BatchNorm),
                             InstanceMethod("batchNormGrad", &Addon::BatchNormGrad),
                         });
  }

 private:
  dnnl::engine eng_;
  dnnl::stream strm_;
  int threads_ = 1;
  std::map<std::vector<int64_t>, std::unique_ptr<ConvEntry>> cache_;

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    int64_t t = GetInt(info, 0, "threads");
    if (t < 1 || t > 1024) throw Napi::RangeError::New(info.Env(), "threads: expected 1..1024, got " + std::to_string(t));
    threads_ = static_cast<int>(t);
    omp_set_num_threads(threads_);
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const dnnl_version_t* v = dnnl_version();
    Napi::Object o = Napi::Object::New(env);
    o.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
    o.Set("threads", threads_);
    o.Set("maxThreads", omp_get_num_procs());
    o.Set("cachedPrimitives", static_cast<double>(cache_.size()));
    return o;
  }

  Napi::Value ClearCache(const Napi::CallbackInfo& info) {
    cache_.clear();
    return info.Env().Undefined();
  }

  static dnnl::post_ops PostOps(int64_t act, float alpha) {
    dnnl::post_ops po;
    switch (act) {
      case kLinear: break;
      case kRelu: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
      case kRelu6: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
      case kElu: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
      case kSigmoid: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
      case kLeakyRelu: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
      default: throw std::invalid_argument("activation code " + std::to_string(act));
    }
    return po;
  }

  template <typename F>
  Napi::Value Guard(Napi::Env env, F f) {
    try {
      omp_set_num_threads(threads_);
      f();
    } catch (const Napi::Error&) {
      throw;
    } catch (const dnnl::error& e) {
      throw Napi::Error::New(env, std::string("oneDNN: ") + e.what());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("native engine: ") + e.what());
    }
    return env.Undefined();
  }

  dnnl::convolution_forward::primitive_desc FwdPd(const ConvGeom& g, dnnl::prop_kind kind, bool bias, int64_t act,
                                                  float alpha) {
    memory::desc src(g.Src(), dt::f32, tag::nhwc), dst(g.Dst(), dt::f32, tag::nhwc);
    memory::desc wei(g.Wei(), dt::f32, tag::any);
    memory::desc b = bias ? memory::desc({g.oc}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc d =
        bias ? dnnl::convolution_forward::desc(kind, algorithm::convolution_direct, src, wei, b, dst, g.Strides(),
                                               g.Dil(), g.PadL(), g.PadR())
             : dnnl::convolution_forward::desc(kind, algorithm::convolution_direct, src, wei, dst, g.Strides(), g.Dil(),
                                               g.PadL(), g.PadR());
    dnnl::primitive_attr attr;
    attr.set_post_ops(PostOps(act, alpha));
    return dnnl::convolution_forward::primitive_desc(d, attr, eng_);
  }

  // Sets up the user HWIO weights memory and, when the primitive wants another layout, the
  // primitive-layout memory and the reorder (toPrim: user -> primitive, else primitive -> user).
  void SetupWeights(ConvEntry& e, const ConvGeom& g, const memory::desc& primWei, bool toPrim, memory& user) {
    user = memory(memory::desc(g.Wei(), dt::f32, tag::hwio), eng_, DNNL_MEMORY_NONE);
    if (primWei != user.get_desc()) {
      e.reorderWei = true;
      e.weiPrim = memory(primWei, eng_);
      e.weiReorder = toPrim ? dnnl::reorder(user, e.weiPrim) : dnnl::reorder(e.weiPrim, user);
    }
  }

  ConvEntry& FwdEntry(const ConvGeom& g, bool bias, int64_t act, float alpha) {
    auto key = g.Key(0, bias ? 1 + act : 0, static_cast<int64_t>(alpha * 1e6f));
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    auto pd = FwdPd(g, dnnl::prop_kind::forward_inference, bias, act, alpha);
    auto e = std::make_unique<ConvEntry>();
    e->prim = dnnl::convolution_forward(pd);
    e->a = memory(pd.src_desc(), eng_, DNNL_MEMORY_NONE);
    e->c = memory(pd.dst_desc(), eng_, DNNL_MEMORY_NONE);
    if (bias) e->bias = memory(pd.bias_desc(), eng_, DNNL_MEMORY_NONE);
    SetupWeights(*e, g, pd.weights_desc(), true, e->b);
    return *(cache_[key] = std::move(e));
  }

  ConvEntry& BwdDataEntry(const ConvGeom& g) {
    auto key = g.Key(1, 0, 0);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    auto hint = FwdPd(g, dnnl::prop_kind::forward_training, false, kLinear, 0.f);
    memory::desc src(g.Src(), dt::f32, tag::nhwc), dst(g.Dst(), dt::f32, tag::nhwc);
    memory::desc wei(g.Wei(), dt::f32, tag::any);
    dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, src, wei, dst, g.Strides(), g.Dil(),
                                            g.PadL(), g.PadR());
    dnnl::convolution_backward_data::primitive_desc pd(d, eng_, hint);
    auto e = std::make_unique<ConvEntry>();
    e->prim = dnnl::convolution_backward_data(pd);
    e->a = memory(pd.diff_dst_desc(), eng_, DNNL_MEMORY_NONE);
    e->c = memory(pd.diff_src_desc(), eng_, DNNL_MEMORY_NONE);
    SetupWeights(*e, g, pd.weights_desc(), true, e->b);
    return *(cache_[key] = std::move(e));
  }

  ConvEntry& BwdWeightsEntry(const ConvGeom& g) {
    auto key = g.Key(2, 0, 0);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    auto hint = FwdPd(g, dnnl::prop_kind::forward_training, false, kLinear, 0.f);
    memory::desc src(g.Src(), dt::f32, tag::nhwc), dst(g.Dst(), dt::f32, tag::nhwc);
    memory::desc wei(g.Wei(), dt::f32, tag::any);
    dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, src, wei, dst, g.Strides(), g.Dil(),
                                               g.PadL(), g.PadR());
    dnnl::convolution_backward_weights::primitive_desc pd(d, eng_, hint);
    auto e = std::make_unique<ConvEntry>();
    e->prim = dnnl::convolution_backward_weights(pd);
    e->a = memory(pd.src_desc(), eng_, DNNL_MEMORY_NONE);
    e->b = memory(pd.diff_dst_desc(), eng_, DNNL_MEMORY_NONE);
    SetupWeights(*e, g, pd.diff_weights_desc(), false, e->c);
    return *(cache_[key] = std::move(e));
  }

  // conv2d(heap, xOff, wOff, yOff, geom, biasOff (-1: none), act, alpha)
  Napi::Value Conv2d(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    ConvGeom g(GetDims(info, 4, ConvGeom::kLen, "geom"));
    g.Check(env);
    int64_t biasOff = GetInt(info, 5, "biasOffset"), act = GetInt(info, 6, "activation");
    float alpha = static_cast<float>(info.Length() > 7 && info[7].IsNumber() ? info[7].As<Napi::Number>().DoubleValue() : 0);
    if (act < kLinear || act > kLeakyRelu) throw Napi::RangeError::New(env, "activation: unknown code " + std::to_string(act));
    float* x = At(env, h, GetInt(info, 1, "xOffset"), g.n * g.h * g.w * g.ic, "x");
    float* w = At(env, h, GetInt(info, 2, "filterOffset"), g.kh * g.kw * g.ic * g.oc, "filter");
    float* y = At(env, h, GetInt(info, 3, "outOffset"), g.n * g.oh * g.ow * g.oc, "output");
    float* b = biasOff >= 0 ? At(env, h, biasOff, g.oc, "bias") : nullptr;
    return Guard(env, [&] {
      ConvEntry& e = FwdEntry(g, b != nullptr, act, alpha);
      e.a.set_data_handle(x);
      e.b.set_data_handle(w);
      e.c.set_data_handle(y);
      if (e.reorderWei) e.weiReorder.execute(strm_, e.b, e.weiPrim);
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.reorderWei ? e.weiPrim : e.b}, {DNNL_ARG_DST, e.c}};
      if (b) {
        e.bias.set_data_handle(b);
        args[DNNL_ARG_BIAS] = e.bias;
      }
      e.prim.execute(strm_, args);
      strm_.wait();
    });
  }

  // conv2dBackpropInput(heap, dyOff, wOff, dxOff, geom)
  Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    ConvGeom g(GetDims(info, 4, ConvGeom::kLen, "geom"));
    g.Check(env);
    float* dy = At(env, h, GetInt(info, 1, "dyOffset"), g.n * g.oh * g.ow * g.oc, "dy");
    float* w = At(env, h, GetInt(info, 2, "filterOffset"), g.kh * g.kw * g.ic * g.oc, "filter");
    float* dx = At(env, h, GetInt(info, 3, "outOffset"), g.n * g.h * g.w * g.ic, "output");
    return Guard(env, [&] {
      ConvEntry& e = BwdDataEntry(g);
      e.a.set_data_handle(dy);
      e.b.set_data_handle(w);
      e.c.set_data_handle(dx);
      if (e.reorderWei) e.weiReorder.execute(strm_, e.b, e.weiPrim);
      e.prim.execute(strm_, {{DNNL_ARG_DIFF_DST, e.a},
                             {DNNL_ARG_WEIGHTS, e.reorderWei ? e.weiPrim : e.b},
                             {DNNL_ARG_DIFF_SRC, e.c}});
      strm_.wait();
    });
  }

  // conv2dBackpropFilter(heap, xOff, dyOff, dwOff, geom)
  Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    ConvGeom g(GetDims(info, 4, ConvGeom::kLen, "geom"));
    g.Check(env);
    float* x = At(env, h, GetInt(info, 1, "xOffset"), g.n * g.h * g.w * g.ic, "x");
    float* dy = At(env, h, GetInt(info, 2, "dyOffset"), g.n * g.oh * g.ow * g.oc, "dy");
    float* dw = At(env, h, GetInt(info, 3, "outOffset"), g.kh * g.kw * g.ic * g.oc, "output");
    return Guard(env, [&] {
      ConvEntry& e = BwdWeightsEntry(g);
      e.a.set_data_handle(x);
      e.b.set_data_handle(dy);
      e.c.set_data_handle(dw);
      e.prim.execute(strm_, {{DNNL_ARG_SRC, e.a},
                             {DNNL_ARG_DIFF_DST, e.b},
                             {DNNL_ARG_DIFF_WEIGHTS, e.reorderWei ? e.weiPrim : e.c}});
      if (e.reorderWei) e.weiReorder.execute(strm_, e.weiPrim, e.c);
      strm_.wait();
    });
  }

  // matMul(heap, aOff, bOff, cOff, dims [batchA, batchB, m, n, k, transA, transB], biasOff, biasLen, act, alpha)
  // C[i] = op(A[i % batchA]) · op(B[i % batchB]) for i < max(batchA, batchB) (a batch of 1 broadcasts),
  // then + bias (length n, or 1) and the activation.
  Napi::Value MatMul(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    auto d = GetDims(info, 4, 7, "dims");
    const int64_t ba = d[0], bb = d[1], m = d[2], n = d[3], k = d[4];
    const bool ta = d[5] != 0, tb = d[6] != 0;
    if (ba <= 0 || bb <= 0 || m <= 0 || n <= 0 || k <= 0) {
      throw Napi::RangeError::New(env, "matMul: sizes must be positive");
    }
    if (ba != bb && ba != 1 && bb != 1) {
      throw Napi::RangeError::New(env, "matMul: batch sizes " + std::to_string(ba) + " and " + std::to_string(bb) +
                                           " do not broadcast");
    }
    const int64_t batch = ba > bb ? ba : bb;
    float* A = At(env, h, GetInt(info, 1, "aOffset"), ba * m * k, "a");
    float* B = At(env, h, GetInt(info, 2, "bOffset"), bb * k * n, "b");
    float* C = At(env, h, GetInt(info, 3, "outOffset"), batch * m * n, "output");
    int64_t biasOff = GetInt(info, 5, "biasOffset"), biasLen = GetInt(info, 6, "biasLength");
    int64_t act = GetInt(info, 7, "activation");
    float alpha = static_cast<float>(info.Length() > 8 && info[8].IsNumber() ? info[8].As<Napi::Number>().DoubleValue() : 0);
    if (act < kLinear || act > kLeakyRelu) throw Napi::RangeError::New(env, "activation: unknown code " + std::to_string(act));
    if (biasOff >= 0 && biasLen != n && biasLen != 1) {
      throw Napi::RangeError::New(env, "matMul: bias length must be " + std::to_string(n) + " or 1, got " +
                                           std::to_string(biasLen));
    }
    float* bias = biasOff >= 0 ? At(env, h, biasOff, biasLen, "bias") : nullptr;
    return Guard(env, [&] {
      for (int64_t i = 0; i < batch; i++) {
        const float* a = A + (ba == 1 ? 0 : i) * m * k;
        const float* b = B + (bb == 1 ? 0 : i) * k * n;
        float* c = C + i * m * n;
        dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, a, ta ? m : k, b, tb ? k : n, 0.f, c, n);
        if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string(st));
      }
      if (bias || act != kLinear) {
        const int64_t rows = batch * m;
#pragma omp parallel for schedule(static) if (rows * n > 32768)
        for (int64_t r = 0; r < rows; r++) {
          float* c = C + r * n;
          for (int64_t j = 0; j < n; j++) {
            float v = c[j];
            if (bias) v += bias[biasLen == 1 ? 0 : j];
            switch (act) {
              case kRelu: v = v > 0.f ? v : 0.f; break;
              case kRelu6: v = v > 0.f ? (v < 6.f ? v : 6.f) : 0.f; break;
              case kElu: v = v > 0.f ? v : std::expm1(v); break;
              case kSigmoid: v = 1.f / (1.f + std::exp(-v)); break;
              case kLeakyRelu: v = v > 0.f ? v : alpha * v; break;
              default: break;
            }
            c[j] = v;
          }
        }
      }
    });
  }

  // mul(heap, aOff, bOff, outOff, n): out = a * b elementwise (same shapes).
  Napi::Value Mul(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    const int64_t n = GetInt(info, 4, "size");
    const float* a = At(env, h, GetInt(info, 1, "aOffset"), n, "a");
    const float* b = At(env, h, GetInt(info, 2, "bOffset"), n, "b");
    float* c = At(env, h, GetInt(info, 3, "outOffset"), n, "output");
    return Guard(env, [&] {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; i++) c[i] = a[i] * b[i];
    });
  }

  // adamUpdate(heap, xOff, gOff, mOff, vOff, xOutOff, mOutOff, vOutOff, n, coef): one Adam step on n
  // floats, tfjs's formula: m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2; x' = x - lr (m'/c1) / (sqrt(v'/c2) + eps).
  // coef is a Float32Array [lr, b1, b2, eps, c1, c2].
  Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    const int64_t n = GetInt(info, 8, "size");
    if (n <= 0) throw Napi::RangeError::New(env, "adamUpdate: size must be positive");
    if (info.Length() < 10 || !info[9].IsTypedArray() || info[9].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        info[9].As<Napi::Float32Array>().ElementLength() != 6) {
      throw Napi::TypeError::New(env, "adamUpdate: coefficients must be a Float32Array [lr, beta1, beta2, epsilon, c1, c2]");
    }
    Napi::Float32Array coef = info[9].As<Napi::Float32Array>();
    const float lr = coef[0], b1 = coef[1], b2 = coef[2], eps = coef[3], c1 = coef[4], c2 = coef[5];
    const float* x = At(env, h, GetInt(info, 1, "xOffset"), n, "x");
    const float* g = At(env, h, GetInt(info, 2, "gOffset"), n, "g");
    const float* m = At(env, h, GetInt(info, 3, "mOffset"), n, "m");
    const float* v = At(env, h, GetInt(info, 4, "vOffset"), n, "v");
    float* xo = At(env, h, GetInt(info, 5, "xOutOffset"), n, "x output");
    float* mo = At(env, h, GetInt(info, 6, "mOutOffset"), n, "m output");
    float* vo = At(env, h, GetInt(info, 7, "vOutOffset"), n, "v output");
    const float ob1 = 1.f - b1, ob2 = 1.f - b2;
    return Guard(env, [&] {
#pragma omp parallel for schedule(static) if (n >= 65536)
      for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = b1 * m[i] + ob1 * gi;
        const float vi = b2 * v[i] + ob2 * gi * gi;
        mo[i] = mi;
        vo[i] = vi;
        xo[i] = x[i] - (lr * (mi / c1)) / (std::sqrt(vi / c2) + eps);
      }
    });
  }

  // dy where y > 0, else 0 (y is a ReLU output, ≥ 0), on the bits: GCC turns every float form of this
  // select (?:, a multiply by the comparison) into a branch, which mispredicts on half the values and
  // made the gradient 10× slower; integer compare-and-mask vectorises. For y ≥ 0 (and −0), y > 0
  // exactly when its bits read as a positive int32.
  static inline float ReluGrad(float dy, float y) {
    int32_t yi, di;
    std::memcpy(&yi, &y, 4);
    std::memcpy(&di, &dy, 4);
    const int32_t gi = di & -static_cast<int32_t>(yi > 0);
    float g;
    std::memcpy(&g, &gi, 4);
    return g;
  }

  // Per-channel Σ f(row, j) over the rows of an [m, c] array, each thread summing its own rows in
  // double, then the threads' sums added in a fixed order (the same result for a given thread count).
  template <typename F>
  static void ChannelSums(int64_t m, int64_t c, int nsum, double* out, F f) {
    const int nt = omp_get_max_threads();
    std::vector<double> part(static_cast<size_t>(nt) * nsum * c, 0.0);
#pragma omp parallel
    {
      const int t = omp_get_thread_num();
      double* p = part.data() + static_cast<size_t>(t) * nsum * c;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < m; r++) f(r, p);
    }
    std::fill(out, out + nsum * c, 0.0);
    for (int t = 0; t < nt; t++)
      for (int64_t k = 0; k < nsum * c; k++) out[k] += part[static_cast<size_t>(t) * nsum * c + k];
  }

  // batchNorm(heap, x, gamma, beta, y, mean, variance, m, c, epsilon, relu): training-mode batch
  // norm of x [m, c] over its rows (biased variance), then ReLU when relu != 0 (batch-norm.ts).
  Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    const int64_t m = GetInt(info, 7, "m"), c = GetInt(info, 8, "c");
    if (m <= 0 || c <= 0) throw Napi::RangeError::New(env, "batchNorm: sizes must be positive");
    if (info.Length() < 11 || !info[9].IsNumber()) throw Napi::TypeError::New(env, "batchNorm: epsilon must be a number");
    const float eps = info[9].As<Napi::Number>().FloatValue();
    const bool relu = GetInt(info, 10, "relu") != 0;
    const float* x = At(env, h, GetInt(info, 1, "xOffset"), m * c, "x");
    const float* gamma = At(env, h, GetInt(info, 2, "gammaOffset"), c, "gamma");
    const float* beta = At(env, h, GetInt(info, 3, "betaOffset"), c, "beta");
    float* y = At(env, h, GetInt(info, 4, "yOffset"), m * c, "y");
    float* mean = At(env, h, GetInt(info, 5, "meanOffset"), c, "mean");
    float* var = At(env, h, GetInt(info, 6, "varianceOffset"), c, "variance");
    return Guard(env, [&] {
      std::vector<float> shift(x, x + c);  // sums shifted by the first row
      std::vector<double> sums(2 * c);
      const float* sh = shift.data();
      ChannelSums(m, c, 2, sums.data(), [&](int64_t r, double* __restrict p) {
        const float* __restrict xr = x + r * c;
#pragma omp simd
        for (int64_t j = 0; j < c; j++) {
          const double d = static_cast<double>(xr[j] - sh[j]);
          p[j] += d;
          p[c + j] += d * d;
        }
      });
      std::vector<float> scale(c), offs(c);
      for (int64_t j = 0; j < c; j++) {
        const double mu = sums[j] / m;
        mean[j] = static_cast<float>(sh[j] + mu);
        var[j] = static_cast<float>(std::max(0.0, sums[c + j] / m - mu * mu));
        scale[j] = gamma[j] / std::sqrt(var[j] + eps);
        offs[j] = beta[j] - mean[j] * scale[j];
      }
      const float* sc = scale.data();
      const float* of = offs.data();
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < m; r++) {
        const float* xr = x + r * c;
        float* yr = y + r * c;
        if (relu) {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) yr[j] = std::max(0.f, xr[j] * sc[j] + of[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) yr[j] = xr[j] * sc[j] + of[j];
        }
      }
    });
  }

  // batchNormGrad(heap, dy, x, gamma, mean, variance, y, dx, dgamma, dbeta, m, c, epsilon, relu).
  Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    const int64_t m = GetInt(info, 10, "m"), c = GetInt(info, 11, "c");
    if (m <= 0 || c <= 0) throw Napi::RangeError::New(env, "batchNormGrad: sizes must be positive");
    if (info.Length() < 14 || !info[12].IsNumber()) throw Napi::TypeError::New(env, "batchNormGrad: epsilon must be a number");
    const float eps = info[12].As<Napi::Number>().FloatValue();
    const bool relu = GetInt(info, 13, "relu") != 0;
    const float* dy = At(env, h, GetInt(info, 1, "dyOffset"), m * c, "dy");
    const float* x = At(env, h, GetInt(info, 2, "xOffset"), m * c, "x");
    const float* gamma = At(env, h, GetInt(info, 3, "gammaOffset"), c, "gamma");
    const float* mean = At(env, h, GetInt(info, 4, "meanOffset"), c, "mean");
    const float* var = At(env, h, GetInt(info, 5, "varianceOffset"), c, "variance");
    const float* y = At(env, h, GetInt(info, 6, "yOffset"), m * c, "y");
    float* dx = At(env, h, GetInt(info, 7, "dxOffset"), m * c, "dx");
    float* dgamma = At(env, h, GetInt(info, 8, "dgammaOffset"), c, "dgamma");
    float* dbeta = At(env, h, GetInt(info, 9, "dbetaOffset"), c, "dbeta");
    return Guard(env, [&] {
      std::vector<double> sums(2 * c);
      ChannelSums(m, c, 2, sums.data(), [&](int64_t r, double* __restrict p) {
        const float* __restrict dyr = dy + r * c;
        const float* __restrict xr = x + r * c;
        const float* __restrict yr = y + r * c;
        double* __restrict p2 = p + c;
        if (relu) {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) {
            const float g = ReluGrad(dyr[j], yr[j]);
            p[j] += g;
            p2[j] += g * (xr[j] - mean[j]);
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) {
            p[j] += dyr[j];
            p2[j] += dyr[j] * (xr[j] - mean[j]);
          }
        }
      });
      std::vector<float> k1(c), k2(c), k3(c);
      for (int64_t j = 0; j < c; j++) {
        const float inv = 1.f / std::sqrt(var[j] + eps);
        dbeta[j] = static_cast<float>(sums[j]);
        dgamma[j] = static_cast<float>(sums[c + j]) * inv;
        k1[j] = gamma[j] * inv;
        k2[j] = static_cast<float>(sums[j] / m);
        k3[j] = dgamma[j] * inv / static_cast<float>(m);
      }
      const float *a1 = k1.data(), *a2 = k2.data(), *a3 = k3.data();
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < m; r++) {
        const float *dyr = dy + r * c, *xr = x + r * c, *yr = y + r * c;
        float* dxr = dx + r * c;
        if (relu) {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) {
            const float g = ReluGrad(dyr[j], yr[j]);
            dxr[j] = a1[j] * (g - a2[j] - (xr[j] - mean[j]) * a3[j]);
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < c; j++) dxr[j] = a1[j] * (dyr[j] - a2[j] - (xr[j] - mean[j]) * a3[j]);
        }
      }
    });
  }

  // sum(heap, xOff, outOff, outer, inner, leading): x is [outer, inner]; with leading = 1 the
  // leading axis is summed (out[j] = Σ_i x[i, j], length inner), else the inner one (out[i], length outer).
  Napi::Value Sum(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    const int64_t outer = GetInt(info, 3, "outer"), inner = GetInt(info, 4, "inner");
    const bool leading = GetInt(info, 5, "leading") != 0;
    if (outer <= 0 || inner <= 0) throw Napi::RangeError::New(env, "sum: sizes must be positive");
    const float* x = At(env, h, GetInt(info, 1, "xOffset"), outer * inner, "x");
    float* out = At(env, h, GetInt(info, 2, "outOffset"), leading ? inner : outer, "output");
    return Guard(env, [&] {
      if (!leading) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < outer; i++) {
          const float* r = x + i * inner;
          float acc = 0.f;
          for (int64_t j = 0; j < inner; j++) acc += r[j];
          out[i] = acc;
        }
        return;
      }
      const int nt = omp_get_max_threads();
      std::vector<float> part(static_cast<size_t>(nt) * inner, 0.f);
#pragma omp parallel
      {
        float* acc = part.data() + static_cast<size_t>(omp_get_thread_num()) * inner;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < outer; i++) {
          const float* r = x + i * inner;
          for (int64_t j = 0; j < inner; j++) acc[j] += r[j];
        }
      }
      for (int64_t j = 0; j < inner; j++) {
        float v = 0.f;
        for (int t = 0; t < nt; t++) v += part[static_cast<size_t>(t) * inner + j];
        out[j] = v;
      }
    });
  }

  // Pool geometry: [n, h, w, c, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl]
  struct PoolGeom {
    int64_t n, h, w, c, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl;
    explicit PoolGeom(const std::vector<int64_t>& p)
        : n(p[0]), h(p[1]), w(p[2]), c(p[3]), kh(p[4]), kw(p[5]), oh(p[6]), ow(p[7]), sh(p[8]), sw(p[9]), dh(p[10]),
          dw(p[11]), pt(p[12]), pl(p[13]) {}
    void Check(Napi::Env env) const {
      for (int64_t v : {n, h, w, c, kh, kw, oh, ow, sh, sw, dh, dw}) {
        if (v <= 0) throw Napi::RangeError::New(env, "maxPool: sizes, strides and dilations must be positive");
      }
      if (pt < 0 || pl < 0) throw Napi::RangeError::New(env, "maxPool: padding must be non-negative");
      // Every window must start inside the padded input.
      if ((oh - 1) * sh - pt >= h || (ow - 1) * sw - pl >= w) {
        throw Napi::RangeError::New(env, "maxPool: output " + std::to_string(oh) + "x" + std::to_string(ow) +
                                             " too large for input " + std::to_string(h) + "x" + std::to_string(w));
      }
    }
  };

  // For output pixel (b, y, x): each channel's maximum over its window (padding ignored) and, when
  // `arg` is given, the input index of its first maximum (tfjs cpu semantics: strict >); -inf and
  // -1 for a window with no input. Branch-free over channels so that the compiler vectorises it.
  static void MaxWindow(const PoolGeom& g, const float* in, int64_t b, int64_t y, int64_t x, float* maxv,
                        int64_t* arg) {
    for (int64_t ch = 0; ch < g.c; ch++) maxv[ch] = -INFINITY;
    if (arg) {
      for (int64_t ch = 0; ch < g.c; ch++) arg[ch] = -1;
    }
    for (int64_t i = 0; i < g.kh; i++) {
      const int64_t r = y * g.sh - g.pt + i * g.dh;
      if (r < 0 || r >= g.h) continue;
      for (int64_t j = 0; j < g.kw; j++) {
        const int64_t col = x * g.sw - g.pl + j * g.dw;
        if (col < 0 || col >= g.w) continue;
        const int64_t base = ((b * g.h + r) * g.w + col) * g.c;
        const float* p = in + base;
        if (arg) {
          for (int64_t ch = 0; ch < g.c; ch++) {
            const bool gt = p[ch] > maxv[ch];
            maxv[ch] = gt ? p[ch] : maxv[ch];
            arg[ch] = gt ? base + ch : arg[ch];
          }
        } else {
          for (int64_t ch = 0; ch < g.c; ch++) maxv[ch] = p[ch] > maxv[ch] ? p[ch] : maxv[ch];
        }
      }
    }
  }

  // maxPool(heap, xOff, yOff, geom)
  Napi::Value MaxPool(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    PoolGeom g(GetDims(info, 3, 14, "geom"));
    g.Check(env);
    const float* x = At(env, h, GetInt(info, 1, "xOffset"), g.n * g.h * g.w * g.c, "x");
    float* y = At(env, h, GetInt(info, 2, "outOffset"), g.n * g.oh * g.ow * g.c, "output");
    return Guard(env, [&] {
      const int64_t rows = g.n * g.oh;
#pragma omp parallel
      {
        std::vector<float> maxv(g.c);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
          const int64_t b = r / g.oh, yy = r % g.oh;
          for (int64_t xx = 0; xx < g.ow; xx++) {
            MaxWindow(g, x, b, yy, xx, maxv.data(), nullptr);
            std::memcpy(y + ((b * g.oh + yy) * g.ow + xx) * g.c, maxv.data(), g.c * sizeof(float));
          }
        }
      }
    });
  }

  // maxPoolGrad(heap, dyOff, xOff, dxOff, geom): dx = dy routed to each window's first maximum.
  Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Heap h = GetHeap(info[0]);
    PoolGeom g(GetDims(info, 4, 14, "geom"));
    g.Check(env);
    const float* dy = At(env, h, GetInt(info, 1, "dyOffset"), g.n * g.oh * g.ow * g.c, "dy");
    const float* x = At(env, h, GetInt(info, 2, "xOffset"), g.n * g.h * g.w * g.c, "x");
    float* dx = At(env, h, GetInt(info, 3, "outOffset"), g.n * g.h * g.w * g.c, "output");
    return Guard(env, [&] {
      // Windows of one image write only into that image: images (or, for a single image, nothing)
      // are split across threads.
#pragma omp parallel
      {
        std::vector<float> maxv(g.c);
        std::vector<int64_t> arg(g.c);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < g.n; b++) {
          std::memset(dx + b * g.h * g.w * g.c, 0, g.h * g.w * g.c * sizeof(float));
          for (int64_t yy = 0; yy < g.oh; yy++) {
            for (int64_t xx = 0; xx < g.ow; xx++) {
              MaxWindow(g, x, b, yy, xx, maxv.data(), arg.data());
              const float* d = dy + ((b * g.oh + yy) * g.ow + xx) * g.c;
              for (int64_t ch = 0; ch < g.c; ch++) {
                if (arg[ch] >= 0) dx[arg[ch]] += d[ch];
              }
            }
          }
        }
      }
    });
  }
};

}  // namespace

NODE_API_ADDON(Addon)
