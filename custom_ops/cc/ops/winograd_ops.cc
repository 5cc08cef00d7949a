// Op registration for Sg2WinogradToTiles and its adjoint Sg2WinogradFromTiles
// (see custom_ops/cc/kernels/winograd.h and stylegan2_tf/ops/winograd.py).
#include "custom_ops/cc/kernels/winograd.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

namespace {

// Reads the attrs shared by both ops: t (rows of the matrix), s, m, pad.
absl::Status TileAttrs(InferenceContext* c, int* t, int* s, int* m, int* pad) {
  std::vector<float> matrix;
  TF_RETURN_IF_ERROR(c->GetAttr("matrix", &matrix));
  TF_RETURN_IF_ERROR(c->GetAttr("window", s));
  TF_RETURN_IF_ERROR(c->GetAttr("stride", m));
  TF_RETURN_IF_ERROR(c->GetAttr("pad", pad));
  if (matrix.empty() || matrix.size() % *s != 0) {
    return errors::InvalidArgument("matrix must hold t x window values, got ",
                                   matrix.size(), " for window ", *s);
  }
  *t = static_cast<int>(matrix.size()) / *s;
  return absl::OkStatus();
}

// Tiles along an axis of `size` pixels, or an error when the windows do not
// end exactly at the padded edge.
absl::Status TileCount(int64_t size, int s, int m, int pad, int64_t* tiles) {
  if (!sg2::WinogradTileCount(size, s, m, pad, tiles)) {
    return errors::InvalidArgument("an axis of ", size, " pixels padded by ",
                                   pad, " is not covered exactly by windows of ",
                                   s, " at stride ", m);
  }
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2WinogradToTiles")
    .Input("x: T")
    .Output("tiles: T")
    .Attr("T: {float, double}")
    .Attr("matrix: list(float)")
    .Attr("window: int >= 1")
    .Attr("stride: int >= 1")
    .Attr("pad: int >= 0")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      int t, s, m, pad;
      TF_RETURN_IF_ERROR(TileAttrs(c, &t, &s, &m, &pad));
      DimensionHandle tiles = c->UnknownDim();
      if (c->ValueKnown(c->Dim(x, 0)) && c->ValueKnown(c->Dim(x, 1)) &&
          c->ValueKnown(c->Dim(x, 2))) {
        int64_t th, tw;
        TF_RETURN_IF_ERROR(TileCount(c->Value(c->Dim(x, 1)), s, m, pad, &th));
        TF_RETURN_IF_ERROR(TileCount(c->Value(c->Dim(x, 2)), s, m, pad, &tw));
        tiles = c->MakeDim(c->Value(c->Dim(x, 0)) * th * tw);
      }
      c->set_output(0, c->MakeShape({t * t, tiles, c->Dim(x, 3)}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
The transform of Winograd tiles: x [N, H, W, C] -> tiles [t*t, N*Th*Tw, C],
tiles[p t + q, tile (n, i, j), c] = sum_a sum_b M[p, a] M[q, b]
x[n, i stride - pad + a, j stride - pad + b, c] for M = matrix as [t, window]
(zero outside x).
)doc");

REGISTER_OP("Sg2WinogradFromTiles")
    .Input("tiles: T")
    .Output("x: T")
    .Attr("T: {float, double}")
    .Attr("matrix: list(float)")
    .Attr("window: int >= 1")
    .Attr("stride: int >= 1")
    .Attr("pad: int >= 0")
    .Attr("height: int >= 1")
    .Attr("width: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle tiles;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &tiles));
      int t, s, m, pad, h, w;
      TF_RETURN_IF_ERROR(TileAttrs(c, &t, &s, &m, &pad));
      TF_RETURN_IF_ERROR(c->GetAttr("height", &h));
      TF_RETURN_IF_ERROR(c->GetAttr("width", &w));
      int64_t th, tw;
      TF_RETURN_IF_ERROR(TileCount(h, s, m, pad, &th));
      TF_RETURN_IF_ERROR(TileCount(w, s, m, pad, &tw));
      DimensionHandle unused, n = c->UnknownDim();
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(tiles, 0), t * t, &unused));
      if (c->ValueKnown(c->Dim(tiles, 1))) {
        const int64_t count = c->Value(c->Dim(tiles, 1));
        if (count % (th * tw) != 0) {
          return errors::InvalidArgument("Sg2WinogradFromTiles: ", count,
                                         " tiles are not a whole number of ",
                                         th, " x ", tw, " images");
        }
        n = c->MakeDim(count / (th * tw));
      }
      c->set_output(0, c->MakeShape({n, h, w, c->Dim(tiles, 2)}));
      return absl::OkStatus();
    })
    .Doc(R"doc(
The adjoint (transpose) of Sg2WinogradToTiles for an image of height x width:
tiles [t*t, N*Th*Tw, C] -> x [N, height, width, C].
)doc");

}  // namespace tensorflow
