# Inverted dropout inside training steps: the mask of a hidden layer's output drawn in C by a counter-based
# generator (splitmix64 of key + position), so that both backends draw the same masks, and the two passes
# that use it. Reached from _net_forward/_net_backward only when NetC.drop is set and a step is running.
# Included by _kernels.pyx after _network.pxi.

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL


cdef inline uint64_t _splitmix64(uint64_t x) noexcept nogil:
    """The splitmix64 finaliser of x (Steele, Lea & Flood): a bijection whose outputs look uniform."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef floating* _dropout_forward(NetC* net, int l, const floating* A, Py_ssize_t n) noexcept nogil:
    """AD = A ⊙ M for the output A (n × m) of layer l, M = 1/(1 − p) where u ≥ p and 0 where u < p, u the
    element's uniform in [0, 1) (the top 53 bits of splitmix64(key + (position + i + 1)·golden)). M is kept
    for the backward pass. Returns AD, the input of layer l + 1."""
    cdef Py_ssize_t i, N = n * net.sizes[l + 1]
    cdef double p = net.drop[l]
    cdef floating scale = <floating>(1.0 / (1.0 - p))
    cdef floating* M = <floating*>net.M[l + 1]
    cdef floating* AD = <floating*>net.AD[l + 1]
    cdef uint64_t key = net.rng_key, base = net.rng_ctr
    cdef double u
    for i in range(N):
        u = <double>(_splitmix64(key + (base + <uint64_t>i + 1) * GOLDEN) >> 11) * (1.0 / 9007199254740992.0)
        M[i] = scale if u >= p else 0
        AD[i] = A[i] * M[i]
    net.rng_ctr = base + <uint64_t>N
    return AD


cdef void _dropout_backward(NetC* net, int l, floating* G, Py_ssize_t n) noexcept nogil:
    """G ← G ⊙ M: ∂L/∂A of layer l's output from ∂L/∂AD (the dropped units get no gradient)."""
    cdef Py_ssize_t i, N = n * net.sizes[l + 1]
    cdef floating* M = <floating*>net.M[l + 1]
    for i in range(N):
        G[i] = G[i] * M[i]
