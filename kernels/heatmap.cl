/* physnn — residual heatmaps drawn on the device: |r| (the Euclidean norm
 * over n_eq equations of n points each) coloured through a 256-entry RGB
 * table into packed RGB rows, one work-item per pixel, the picture laid out
 * as physnn_heatmap_render() draws it on the host: nearest-neighbour
 * scaling, data row 0 at the bottom, NaN black, a colour bar after a
 * two-pixel black gap. */
__kernel void
physnn_heatmap (__global const float *v, const uint v_off, const uint n,
    const uint n_eq, const uint data_w, const uint data_h,
    __global const uchar *lut, const float lo, const float span,
    const int log_scale, const uint img_w, const uint width,
    const uint height, const uint stride, __global uchar *rgb,
    const uint rgb_off)
{
  const uint x = get_global_id (0), y = get_global_id (1);
  if (x >= width || y >= height)
    return;
  __global uchar *px = rgb + rgb_off + (size_t) y * stride + 3 * x;
  int idx;
  if (x < img_w) {
    const uint col = (uint) (((ulong) x * data_w) / img_w);
    const uint dy = data_h - 1 - (uint) (((ulong) y * data_h) / height);
    const uint p = dy * data_w + col;
    float a;
    if (n_eq == 1) {
      a = fabs (v[v_off + p]);
    } else {
      float s = 0.0f;
      for (uint e = 0; e < n_eq; e++) {
        const float r = v[v_off + e * n + p];
        s += r * r;
      }
      a = sqrt (s);
    }
    if (isnan (a)) {
      px[0] = px[1] = px[2] = 0;
      return;
    }
    const float t = log_scale ? (a > 0.0f ? (log10 (a) - lo) / span : 0.0f)
                              : (a - lo) / span;
    idx = (int) (clamp (t, 0.0f, 1.0f) * 255.0f + 0.5f);
  } else if (x < img_w + 2) {
    px[0] = px[1] = px[2] = 0;
    return;
  } else {
    idx = height > 1 ? (int) ((height - 1 - y) * 255.0f / (height - 1) + 0.5f)
                     : 255;
  }
  px[0] = lut[3 * idx];
  px[1] = lut[3 * idx + 1];
  px[2] = lut[3 * idx + 2];
}
