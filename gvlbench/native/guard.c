/* The native Store guard: what a binding would pay to turn the shared-Store crash into an error.
 *
 * gvlbench's Python guard (binding/guard.py) costs a few hundred nanoseconds a call because it
 * is Python. A binding would do it in native code: one compare-and-swap of an owner word before
 * `wasmtime_func_call` and one store after. This shim is exactly that and nothing more, so its
 * cost is the figure the "every user would pay for it" debate needs.
 *
 * `gvlbench_func_call` has the very signature of `wasmtime_func_call`, so any caller of that
 * (gvlbench's prepared calls, wasmtime-py's own binding, ruby-ffi) can be pointed at it
 * unchanged. It finds the Store's guard by the Store's context pointer (a binding would keep
 * the guard in its Store object; gvlbench cannot add a field to wasmtime-py's Store, so a
 * short table stands in: one comparison for one Store), then:
 *   - the owner word is free: take it, call, release it (a trap and an error are return
 *     values of wasmtime_func_call, so releasing after the call covers every way out);
 *   - the calling thread owns it already: a host callback calling back into its own Store,
 *     admitted; the outer call releases the word, so no depth count is needed;
 *   - another thread owns it: refused at once with a real `wasmtime_error_t` (so a caller
 *     that knows nothing of the guard still gets an error, never a crash), and the refusal
 *     (which guard, which owner) is kept for this thread for `gvlbench_take_refusal`.
 * Unguarded Stores pass straight through.
 *
 * The shim does not link libwasmtime: the caller hands it `wasmtime_func_call` and
 * `wasmtime_error_new` from the library it loaded itself (wasmtime-py's), once.
 * Threads are named by their kernel thread id, which Python (threading.get_native_id) and
 * Ruby (Thread#native_thread_id) can both map back to a thread's name.
 *
 * Build: cc -O2 -std=c11 -shared -fPIC -o libgvlguard.so guard.c  (`make native`)
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void *(*func_call_fn)(void *ctx, const void *func, const void *args, size_t nargs,
                              void *results, size_t nresults, void **trap);
typedef void *(*error_new_fn)(const char *message);

#define GVLBENCH_GUARDS 1024

typedef struct {
    _Atomic(void *) ctx;  /* the Store's context pointer; NULL: a free slot */
    atomic_long owner;    /* kernel thread id of the thread inside, 0: nobody */
    atomic_ulong refused; /* entries refused, for the record */
} gvlbench_guard;

static func_call_fn func_call;
static error_new_fn error_new;
static gvlbench_guard guards[GVLBENCH_GUARDS];
static atomic_int used; /* slots ever used: the scan stops here */

/* initial-exec: one %fs-relative load on the hot path instead of a call to __tls_get_addr
 * (8 bytes of the static TLS surplus glibc keeps for libraries loaded with dlopen) */
static _Thread_local long self_tid __attribute__((tls_model("initial-exec")));
static _Thread_local gvlbench_guard *refused_guard;
static _Thread_local long refused_owner;

static const char REFUSED_MESSAGE[] =
    "store in use by another thread (refused by gvlbench's native Store guard)";

/* Hand over the library's own functions; 0 when both are given. */
int gvlbench_guard_init(void *wasmtime_func_call, void *wasmtime_error_new) {
    func_call = (func_call_fn)wasmtime_func_call;
    error_new = (error_new_fn)wasmtime_error_new;
    return func_call && error_new ? 0 : -1;
}

static inline long current_tid(void) {
    long tid = self_tid;
    if (__builtin_expect(tid == 0, 0))
        tid = self_tid = (long)syscall(SYS_gettid);
    return tid;
}

static inline gvlbench_guard *guard_of(void *ctx) {
    int n = atomic_load_explicit(&used, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&guards[i].ctx, memory_order_acquire) == ctx)
            return &guards[i];
    return NULL;
}

/* Guard the Store whose context is `ctx`: its guard (the existing one if it has one), or
 * NULL when every slot is taken. */
void *gvlbench_guard_new(void *ctx) {
    gvlbench_guard *g = guard_of(ctx);
    if (g)
        return g;
    for (int i = 0; i < GVLBENCH_GUARDS; i++) {
        void *expected = NULL;
        g = &guards[i];
        if (atomic_load_explicit(&g->ctx, memory_order_relaxed) != NULL)
            continue;
        atomic_store_explicit(&g->owner, 0, memory_order_relaxed);
        atomic_store_explicit(&g->refused, 0, memory_order_relaxed);
        if (atomic_compare_exchange_strong(&g->ctx, &expected, ctx)) {
            int n = atomic_load(&used);
            while (n < i + 1 && !atomic_compare_exchange_weak(&used, &n, i + 1)) {
            }
            return g;
        }
    }
    return NULL;
}

/* Stop guarding: the slot is free again (call it before the Store goes). */
void gvlbench_guard_free(void *guard) {
    if (guard)
        atomic_store(&((gvlbench_guard *)guard)->ctx, NULL);
}

unsigned long gvlbench_guard_refused(void *guard) {
    return atomic_load(&((gvlbench_guard *)guard)->refused);
}

/* The kernel thread id inside the guard's Store now, 0 for nobody. */
long gvlbench_guard_owner(void *guard) {
    return atomic_load(&((gvlbench_guard *)guard)->owner);
}

/* The calling thread's last refusal: the owner's thread id (0: none since the last take),
 * and the guard through `guard_out`. Consumed. */
long gvlbench_take_refusal(void **guard_out) {
    long owner = refused_owner;
    if (guard_out)
        *guard_out = refused_guard;
    refused_owner = 0;
    refused_guard = NULL;
    return owner;
}

/* wasmtime_func_call, through the Store's guard. */
void *gvlbench_func_call(void *ctx, const void *func, const void *args, size_t nargs,
                         void *results, size_t nresults, void **trap) {
    gvlbench_guard *g = guard_of(ctx);
    if (!g)
        return func_call(ctx, func, args, nargs, results, nresults, trap);
    long self = current_tid(), owner = 0;
    if (atomic_compare_exchange_strong_explicit(&g->owner, &owner, self, memory_order_acquire,
                                                memory_order_relaxed)) {
        void *error = func_call(ctx, func, args, nargs, results, nresults, trap);
        atomic_store_explicit(&g->owner, 0, memory_order_release);
        return error;
    }
    if (owner == self) /* re-entry from a host callback on the owning thread */
        return func_call(ctx, func, args, nargs, results, nresults, trap);
    atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
    refused_guard = g;
    refused_owner = owner;
    return error_new(REFUSED_MESSAGE);
}

/* The calling thread's kernel thread id, as the guard records it. */
long gvlbench_thread_id(void) { return current_tid(); }
