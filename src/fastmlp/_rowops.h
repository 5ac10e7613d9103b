/* Row passes of the narrow softmax (rows of fewer than 16 columns: a few classes). With the column
 * count a compile-time constant (one case per width), GCC unrolls the per-row loops completely; a loop
 * over a run-time width of 3 costs more in loop control than in arithmetic.
 *
 *   fm_rows_shift:     out[i, j] = Z[i, j] - max_j Z[i, j]    (out may be Z)
 *   fm_rows_normalise: out[i, j] = out[i, j] / sum_j out[i, j] (as out * (1 / sum), sum from j = 0 up)
 */
#ifndef FASTMLP_ROWOPS_H
#define FASTMLP_ROWOPS_H

#include <Python.h>

#define FM_ROWS_SHIFT_BODY(T, M)                                                    \
    for (Py_ssize_t i = 0; i < n; i++) {                                            \
        const T *z = Z + i * (M);                                                   \
        T *o = out + i * (M);                                                       \
        T mx = z[0];                                                                \
        for (Py_ssize_t j = 1; j < (M); j++)                                        \
            mx = z[j] > mx ? z[j] : mx;                                             \
        for (Py_ssize_t j = 0; j < (M); j++)                                        \
            o[j] = z[j] - mx;                                                       \
    }

#define FM_ROWS_NORMALISE_BODY(T, M)                                                \
    for (Py_ssize_t i = 0; i < n; i++) {                                            \
        T *o = out + i * (M);                                                       \
        T s = 0;                                                                    \
        for (Py_ssize_t j = 0; j < (M); j++)                                        \
            s = s + o[j];                                                           \
        s = 1 / s;                                                                  \
        for (Py_ssize_t j = 0; j < (M); j++)                                        \
            o[j] = o[j] * s;                                                        \
    }

#define FM_ROWS_SWITCH(BODY, T)                                                     \
    switch (m) {                                                                    \
    case 1: BODY(T, 1) break;                                                       \
    case 2: BODY(T, 2) break;                                                       \
    case 3: BODY(T, 3) break;                                                       \
    case 4: BODY(T, 4) break;                                                       \
    case 5: BODY(T, 5) break;                                                       \
    case 6: BODY(T, 6) break;                                                       \
    case 7: BODY(T, 7) break;                                                       \
    case 8: BODY(T, 8) break;                                                       \
    case 10: BODY(T, 10) break;                                                     \
    default: BODY(T, m) break;                                                      \
    }

static void fm_rows_shift_f32(const float *Z, float *out, Py_ssize_t n, Py_ssize_t m)
{ FM_ROWS_SWITCH(FM_ROWS_SHIFT_BODY, float) }
static void fm_rows_shift_f64(const double *Z, double *out, Py_ssize_t n, Py_ssize_t m)
{ FM_ROWS_SWITCH(FM_ROWS_SHIFT_BODY, double) }
static void fm_rows_normalise_f32(float *out, Py_ssize_t n, Py_ssize_t m)
{ FM_ROWS_SWITCH(FM_ROWS_NORMALISE_BODY, float) }
static void fm_rows_normalise_f64(double *out, Py_ssize_t n, Py_ssize_t m)
{ FM_ROWS_SWITCH(FM_ROWS_NORMALISE_BODY, double) }

#endif
