/*
 * DCT-domain masks for libjpeg-turbo's lossless transform (tj3Transform).
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
