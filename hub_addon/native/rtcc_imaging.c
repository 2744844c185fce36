/*
 * The add-on's native part: DCT-domain masks for libjpeg-turbo's lossless transform
 * (tj3Transform), and a plane resampler for the scaled route (at the end of the file).
 *
 * tj3Transform calls a tjtransform's customFilter once per row of DCT blocks of every
 * component, after the coefficients were (losslessly) rotated or flipped and before they are
 * entropy-coded again. This filter blacks out the blocks of every MCU that the per-frame
 * bitmap marks: all 63 AC coefficients become 0 and the DC coefficient becomes the value
 * the caller computed from the quantisation table (black for luma, neutral for chroma).
 * Nothing of a masked block's content is left, in any component.
 *
 * Loaded with ctypes by rtcc_hub.imaging.native; Python computes the bitmap from the one mask
 * geometry (rtcc_hub.maskgeom) and passes it in `tjtransform.data`. The filter runs inside
 * tj3Transform without the GIL: a Python callback would cost one interpreter call per block
 * row. The file needs neither Python.h nor turbojpeg.h: only the two struct layouts below,
 * which are part of libjpeg-turbo's stable ABI since 1.2 and unchanged in 3.x.
 *
 * Any inconsistency between the bitmap and the arrays libjpeg-turbo hands over is an error
 * (-1, which makes tj3Transform fail): the frame is refused rather than shared half-masked.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* turbojpeg.h: tjregion and tjtransform (libjpeg-turbo >= 1.2, the same in 3.x). */
typedef struct {
  int x, y, w, h;
} rtcc_tjregion;

typedef struct rtcc_tjtransform {
  rtcc_tjregion r;
  int op;
  int options;
  void *data;
  int (*customFilter)(short *coeffs, rtcc_tjregion arrayRegion, rtcc_tjregion planeRegion,
                      int componentID, int transformID, struct rtcc_tjtransform *transform);
} rtcc_tjtransform;

#define RTCC_MAX_COMPONENTS 4
#define RTCC_BLOCK 8
#define RTCC_COEFFS 64

/* Mirrored by rtcc_hub.imaging.native.MaskBitmap (ctypes): keep the two in step. */
typedef struct {
  int32_t version;                            /* RTCC_DCTMASK_VERSION */
  int32_t cols, rows;                         /* MCU grid of the transformed image */
  int32_t components;                         /* 1 (greyscale) or 3 (YCbCr) */
  int32_t h_blocks[RTCC_MAX_COMPONENTS];      /* blocks of each component per MCU, across */
  int32_t v_blocks[RTCC_MAX_COMPONENTS];      /* ... and down */
  int32_t fill_dc[RTCC_MAX_COMPONENTS];       /* quantised DC of a masked block */
  const uint8_t *masked;                      /* rows * cols bytes, nonzero = masked MCU */
  int64_t blocks_masked;                      /* out: blocks overwritten (for tests) */
} rtcc_mask_bitmap;

#define RTCC_DCTMASK_VERSION 1

int rtcc_dctmask_version(void) { return RTCC_DCTMASK_VERSION; }

int rtcc_dctmask_filter(short *coeffs, rtcc_tjregion arrayRegion, rtcc_tjregion planeRegion,
                        int componentID, int transformID, rtcc_tjtransform *transform) {
  (void)planeRegion;
  (void)transformID;
  if (transform == NULL || transform->data == NULL || coeffs == NULL) return -1;
  rtcc_mask_bitmap *bitmap = (rtcc_mask_bitmap *)transform->data;
  if (bitmap->version != RTCC_DCTMASK_VERSION || bitmap->masked == NULL) return -1;
  if (componentID < 0 || componentID >= bitmap->components) return -1;
  if (arrayRegion.x < 0 || arrayRegion.y < 0 || arrayRegion.w < 0 || arrayRegion.h < 0 ||
      arrayRegion.x % RTCC_BLOCK || arrayRegion.y % RTCC_BLOCK ||
      arrayRegion.w % RTCC_BLOCK || arrayRegion.h % RTCC_BLOCK)
    return -1;
  const int h_blocks = bitmap->h_blocks[componentID];
  const int v_blocks = bitmap->v_blocks[componentID];
  if (h_blocks < 1 || v_blocks < 1) return -1;
  const short fill_dc = (short)bitmap->fill_dc[componentID];
  const int first_col = arrayRegion.x / RTCC_BLOCK, cols = arrayRegion.w / RTCC_BLOCK;
  const int first_row = arrayRegion.y / RTCC_BLOCK, rows = arrayRegion.h / RTCC_BLOCK;

  for (int row = 0; row < rows; row++) {
    const int mcu_row = (first_row + row) / v_blocks;
    /* libjpeg-turbo pads a component's block rows to whole MCUs: a row past the bitmap
     * means the bitmap was made for another image. */
    if (mcu_row >= bitmap->rows) return -1;
    const uint8_t *line = bitmap->masked + (size_t)mcu_row * (size_t)bitmap->cols;
    short *blocks = coeffs + (size_t)row * (size_t)cols * RTCC_COEFFS;
    for (int col = 0; col < cols; col++) {
      const int mcu_col = (first_col + col) / h_blocks;
      if (mcu_col >= bitmap->cols) return -1;
      if (!line[mcu_col]) continue;
      short *block = blocks + (size_t)col * RTCC_COEFFS;
      memset(block, 0, RTCC_COEFFS * sizeof(short));
      block[0] = fill_dc;
      bitmap->blocks_masked++;
    }
  }
  return 0;
}

/*
 * Separable resampling of one 8-bit image, for the scaled route.
 *
 * libjpeg-turbo's SIMD IDCTs exist for 1/1, 1/2, 1/4 and 1/8 only (3/4 and the other
 * eighths run plain C and cost twice a full decode), so frames are decoded at the nearest of
 * those at or above the target and this bridges the rest (a ratio of at most 2). The taps
 * are computed in Python (rtcc_hub.imaging.resize: area weights, 14-bit fixed point, each
 * output's weights summing to 1 << 14); this only applies them: rows first into `middle`
 * (dst_h rows of src_w pixels; a loop the compiler vectorises), then columns into `dst`.
 * `row` is src_w * channels int32 of scratch. Pixels have `channels` interleaved samples
 * (1 for a plane, 3 for RGB).
 */
#define RTCC_WEIGHT_BITS 14

static inline uint8_t rtcc_clamp(int32_t value) {
  return (uint8_t)(value < 0 ? 0 : value > 255 ? 255 : value);
}

int rtcc_resample(const uint8_t *restrict src, int src_stride, int src_w, int src_h,
                  int channels, uint8_t *restrict dst, int dst_stride, int dst_w, int dst_h,
                  const int32_t *restrict x_first, const int16_t *restrict x_weights, int x_taps,
                  const int32_t *restrict y_first, const int16_t *restrict y_weights, int y_taps,
                  uint8_t *restrict middle, int32_t *restrict row) {
  if (!src || !dst || !middle || !row || !x_first || !x_weights || !y_first || !y_weights)
    return -1;
  if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1 || x_taps < 1 || y_taps < 1 ||
      channels < 1 || channels > 4 || src_stride < src_w * channels ||
      dst_stride < dst_w * channels)
    return -1;
  for (int x = 0; x < dst_w; x++)
    if (x_first[x] < 0 || x_first[x] + x_taps > src_w) return -1;
  for (int y = 0; y < dst_h; y++)
    if (y_first[y] < 0 || y_first[y] + y_taps > src_h) return -1;
  const int32_t half = 1 << (RTCC_WEIGHT_BITS - 1);
  const size_t line = (size_t)src_w * (size_t)channels;

  for (int y = 0; y < dst_h; y++) {
    const int16_t *weights = y_weights + (size_t)y * (size_t)y_taps;
    uint8_t *restrict mid = middle + (size_t)y * line;
    const uint8_t *restrict in0 = src + (size_t)y_first[y] * (size_t)src_stride;
    if (y_taps == 2) { /* one vectorised pass, no accumulator row */
      const uint8_t *restrict in1 = in0 + src_stride;
      const int32_t w0 = weights[0], w1 = weights[1];
      for (size_t x = 0; x < line; x++)
        mid[x] = rtcc_clamp((half + w0 * in0[x] + w1 * in1[x]) >> RTCC_WEIGHT_BITS);
      continue;
    }
    if (y_taps == 3) {
      const uint8_t *restrict in1 = in0 + src_stride, *restrict in2 = in1 + src_stride;
      const int32_t w0 = weights[0], w1 = weights[1], w2 = weights[2];
      for (size_t x = 0; x < line; x++)
        mid[x] = rtcc_clamp((half + w0 * in0[x] + w1 * in1[x] + w2 * in2[x]) >> RTCC_WEIGHT_BITS);
      continue;
    }
    for (size_t x = 0; x < line; x++) row[x] = half;
    for (int k = 0; k < y_taps; k++) {
      const uint8_t *restrict in = src + (size_t)(y_first[y] + k) * (size_t)src_stride;
      const int32_t weight = weights[k];
      for (size_t x = 0; x < line; x++) row[x] += weight * in[x];
    }
    for (size_t x = 0; x < line; x++) mid[x] = rtcc_clamp(row[x] >> RTCC_WEIGHT_BITS);
  }
  for (int y = 0; y < dst_h; y++) {
    const uint8_t *in = middle + (size_t)y * line;
    uint8_t *out = dst + (size_t)y * (size_t)dst_stride;
    /* Planes after a fast decode factor need 2 or 3 taps: unrolled, they cost a third. */
    if (channels == 1 && x_taps == 2) {
      for (int x = 0; x < dst_w; x++) {
        const uint8_t *t = in + x_first[x];
        const int16_t *w = x_weights + 2 * (size_t)x;
        out[x] = rtcc_clamp((half + w[0] * t[0] + w[1] * t[1]) >> RTCC_WEIGHT_BITS);
      }
      continue;
    }
    if (channels == 1 && x_taps == 3) {
      for (int x = 0; x < dst_w; x++) {
        const uint8_t *t = in + x_first[x];
        const int16_t *w = x_weights + 3 * (size_t)x;
        out[x] = rtcc_clamp((half + w[0] * t[0] + w[1] * t[1] + w[2] * t[2]) >> RTCC_WEIGHT_BITS);
      }
      continue;
    }
    for (int x = 0; x < dst_w; x++) {
      const uint8_t *taps = in + (size_t)x_first[x] * (size_t)channels;
      const int16_t *weights = x_weights + (size_t)x * (size_t)x_taps;
      for (int c = 0; c < channels; c++) {
        int32_t acc = half;
        for (int k = 0; k < x_taps; k++) acc += (int32_t)weights[k] * taps[k * channels + c];
        out[x * channels + c] = rtcc_clamp(acc >> RTCC_WEIGHT_BITS);
      }
    }
  }
  return 0;
}
