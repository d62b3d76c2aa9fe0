/* The native Store guard: what a binding would pay to turn the shared-Store crash into an error,
 * on every Store entry point, in each of the three native designs the debate proposed.
 *
 * gvlbench's Python guard (binding/guard.py) costs a few hundred nanoseconds an entry because it
 * is Python. A binding would do it in native code. This shim is exactly that and nothing more,
 * so its cost is the figure the "every user would pay for it" debate needs.
 *
 * Every entry point here has the very signature of the libwasmtime function it guards
 * (`gvlbench_wasmtime_memory_size` for `wasmtime_memory_size`, ...), so any caller of that
 * function (gvlbench's prepared calls, wasmtime-py's own bindings, ruby-ffi) can be pointed at
 * it unchanged. It finds the Store's guard by the Store's context pointer (a binding would
 * keep the guard in its Store object; gvlbench cannot add a field to wasmtime-py's Store, so
 * a hash table stands in: one probe, however many Stores are guarded), enters it, calls the
 * library, and leaves it. A guard has one of three designs, chosen when the Store is guarded:
 *   - OWNER, the owner word: compare-and-swap the entering thread's id into the word, release
 *     it on the way out. A thread that owns it already (a host callback calling back into its
 *     own Store) is admitted without a depth count: the outer entry releases. Any thread may
 *     use the Store when nobody is inside, so a Store handed to another thread works.
 *   - AFFINITY: the owner is the thread that guarded the Store, fixed for its life (the
 *     design of wasmtime-py #217 and PyO3's `unsendable`): one load and one comparison, no
 *     atomic write, and any other thread is refused, even when nobody is inside.
 *   - MUTEX: a recursive mutex: a second thread waits instead of being refused (what
 *     cowboy-protocol-py chose). It never refuses; it serialises.
 * A refusal is an error where the entry point has an error channel (a real wasmtime_error_t,
 * so a caller that knows nothing of the guard still gets an error, never a crash). Where it
 * has none (memory_size, memory_data, global_get, table_get, export_get, the *_type getters,
 * func_new) the operation is not performed and a neutral value comes back (0, NULL, false;
 * global_get writes an invalid kind; func_new leaves its result untouched). Either way the refusal (which guard, which owner) is kept for the thread for
 * `gvlbench_take_refusal`, and `gvlbench_refusals` counts them process-wide, so a binding
 * can check for one with a single load only when it has to.
 *
 * A pointer into linear memory outlives any entry: wasmtime-py's Memory.read takes the data
 * pointer and copies from it afterwards, while another thread may grow (and move) the memory.
 * `gvlbench_memory_read` and `gvlbench_memory_write` are that whole operation inside one
 * entry, bounds-checked against the size inside it: what a native binding's Memory#read is.
 *
 * The shim does not link libwasmtime: it is told the path of the library the caller loaded
 * (wasmtime-py's, or the one ruby-ffi opened) and looks every function up in it, once.
 * Threads are named by their kernel thread id, which Python (threading.get_native_id) and
 * Ruby (Thread#native_thread_id) can both map back to a thread's name.
 *
 * Build: cc -O2 -std=c11 -shared -fPIC -o libgvlguard.so guard.c -ldl -lpthread (`make native`)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { GUARD_OWNER = 0, GUARD_AFFINITY = 1, GUARD_MUTEX = 2 };

/* The guards live in an open-addressed hash table keyed by the Store's context pointer (a
 * binding would keep its guard in its Store object; gvlbench cannot add a field to
 * wasmtime-py's Store): one probe for a Store whose home slot is its own, whatever number of
 * Stores are guarded. A freed slot becomes a tombstone, so the probes past it still find
 * theirs, and a new guard takes the first free or tombstoned slot of its probe. */
#define GVLBENCH_GUARDS 4096 /* a power of two */
#define TOMBSTONE ((void *)1)

typedef struct {
    _Atomic(void *) ctx;  /* the Store's context pointer; NULL: a free slot */
    atomic_ulong generation; /* bumped each time the slot guards a Store anew */
    int kind;             /* GUARD_OWNER, GUARD_AFFINITY or GUARD_MUTEX */
    atomic_long owner;    /* OWNER: the thread inside, 0: nobody; AFFINITY: the creator */
    atomic_ulong refused; /* entries refused, for the record */
    pthread_mutex_t mutex;
    bool mutex_ready;
} gvlbench_guard;

typedef void *error_t_; /* wasmtime_error_t *, opaque here */

/* The library's functions, looked up by name once (gvlbench_guard_init). */
#define ENTRY_POINTS(X)                                                                       \
    X(wasmtime_func_call)                                                                     \
    X(wasmtime_memory_data)                                                                   \
    X(wasmtime_memory_data_size)                                                              \
    X(wasmtime_memory_size)                                                                   \
    X(wasmtime_memory_grow)                                                                   \
    X(wasmtime_global_get)                                                                    \
    X(wasmtime_global_set)                                                                    \
    X(wasmtime_table_get)                                                                     \
    X(wasmtime_table_set)                                                                     \
    X(wasmtime_table_grow)                                                                    \
    X(wasmtime_table_size)                                                                    \
    X(wasmtime_context_get_fuel)                                                              \
    X(wasmtime_context_set_fuel)                                                              \
    X(wasmtime_context_gc)                                                                    \
    X(wasmtime_context_set_epoch_deadline)                                                    \
    X(wasmtime_context_set_wasi)                                                              \
    X(wasmtime_instance_export_get)                                                           \
    X(wasmtime_instance_export_nth)                                                           \
    X(wasmtime_instance_new)                                                                  \
    X(wasmtime_linker_instantiate)                                                            \
    X(wasmtime_func_type)                                                                     \
    X(wasmtime_global_type)                                                                   \
    X(wasmtime_memory_type)                                                                   \
    X(wasmtime_table_type)                                                                    \
    X(wasmtime_memory_page_size)                                                              \
    X(wasmtime_func_new)                                                                      \
    X(wasmtime_global_new)                                                                    \
    X(wasmtime_memory_new)                                                                    \
    X(wasmtime_table_new)                                                                     \
    X(wasmtime_instance_pre_instantiate)                                                      \
    X(wasmtime_linker_module)                                                                 \
    X(wasmtime_linker_define)                                                                 \
    X(wasmtime_linker_define_instance)                                                        \
    X(wasmtime_linker_get_default)                                                            \
    X(wasmtime_linker_get)                                                                    \
    X(wasmtime_linker_define_unknown_imports_as_default_values)                               \
    X(wasmtime_memory_page_size_log2)                                                         \
    X(wasmtime_context_get_data)                                                              \
    X(wasmtime_context_set_data)                                                              \
    X(wasmtime_externref_new)                                                                 \
    X(wasmtime_externref_data)

static struct {
#define SLOT(name) void *name;
    ENTRY_POINTS(SLOT)
#undef SLOT
    error_t_ (*wasmtime_error_new)(const char *);
} lib;

static gvlbench_guard guards[GVLBENCH_GUARDS];
/* threads with a refusal not yet taken: zero nearly always, so a binding with nothing to look
 * at (a void entry point) checks for a refusal with one load, and only pays more while one
 * is waiting to be taken */
atomic_ulong gvlbench_refusals;

/* initial-exec: one %fs-relative load on the hot path instead of a call to __tls_get_addr
 * (8 bytes of the static TLS surplus glibc keeps for libraries loaded with dlopen) */
static _Thread_local long self_tid __attribute__((tls_model("initial-exec")));
static _Thread_local gvlbench_guard *refused_guard;
static _Thread_local long refused_owner;
static _Thread_local const char *refused_entry; /* the entry point refused, e.g. "wasmtime_global_set" */

static const char REFUSED_MESSAGE[] =
    "store in use by another thread (refused by gvlbench's native Store guard)";
static const char AFFINITY_MESSAGE[] =
    "store belongs to another thread (refused by gvlbench's native thread-affinity guard)";

/* Look every entry point up in the libwasmtime at `path` (already loaded by the caller, so
 * this is the very copy it uses). 0 when all were found, else the number missing. */
int gvlbench_guard_init(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!handle)
        handle = dlopen(path, RTLD_NOW);
    if (!handle)
        return -1;
    int missing = 0;
#define LOOKUP(name) missing += (lib.name = dlsym(handle, #name)) == NULL;
    ENTRY_POINTS(LOOKUP)
#undef LOOKUP
    lib.wasmtime_error_new = (error_t_(*)(const char *))dlsym(handle, "wasmtime_error_new");
    return missing + (lib.wasmtime_error_new == NULL);
}

static inline long current_tid(void) {
    long tid = self_tid;
    if (__builtin_expect(tid == 0, 0))
        tid = self_tid = (long)syscall(SYS_gettid);
    return tid;
}

static inline size_t home_of(const void *ctx) {
    uint64_t h = (uint64_t)(uintptr_t)ctx * UINT64_C(0x9E3779B97F4A7C15); /* Fibonacci hash */
    return (size_t)(h >> 40) & (GVLBENCH_GUARDS - 1);
}

static inline gvlbench_guard *guard_of(const void *ctx) {
    size_t i = home_of(ctx);
    for (int n = 0; n < GVLBENCH_GUARDS; n++, i = (i + 1) & (GVLBENCH_GUARDS - 1)) {
        void *c = atomic_load_explicit(&guards[i].ctx, memory_order_acquire);
        if (c == ctx)
            return &guards[i];
        if (c == NULL) /* never used: the probe ends here */
            return NULL;
    }
    return NULL;
}

static void init_mutex(gvlbench_guard *g) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&g->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    g->mutex_ready = true;
}

static void start_guarding(gvlbench_guard *g, int kind) {
    g->kind = kind;
    atomic_store(&g->owner, kind == GUARD_AFFINITY ? current_tid() : 0);
    atomic_store(&g->refused, 0);
    if (kind == GUARD_MUTEX && !g->mutex_ready)
        init_mutex(g);
    atomic_fetch_add(&g->generation, 1);
}

/* Guard the Store whose context is `ctx` with design `kind`, from the calling thread (the
 * owner for AFFINITY), or NULL when every slot is taken or `kind` is unknown. A slot that
 * still holds `ctx` belonged to a Store freed at that address without its guard freed first
 * (a binding frees the guard with the Store; a finalizer may run later): it starts afresh, a
 * new generation, so the old guard's late free leaves it alone. */
void *gvlbench_guard_new_kind(void *ctx, int kind) {
    if (kind < GUARD_OWNER || kind > GUARD_MUTEX)
        return NULL;
    gvlbench_guard *g = guard_of(ctx);
    if (g) {
        start_guarding(g, kind);
        return g;
    }
    size_t i = home_of(ctx);
    for (int n = 0; n < GVLBENCH_GUARDS; n++, i = (i + 1) & (GVLBENCH_GUARDS - 1)) {
        g = &guards[i];
        void *seen = atomic_load_explicit(&g->ctx, memory_order_relaxed);
        if (seen != NULL && seen != TOMBSTONE)
            continue;
        /* claim the slot with a sentinel first, so nobody matches it half made */
        if (!atomic_compare_exchange_strong(&g->ctx, &seen, (void *)g))
            continue;
        start_guarding(g, kind);
        atomic_store(&g->ctx, ctx);
        return g;
    }
    return NULL;
}

/* The owner-word design, as the first version of this shim offered it. */
void *gvlbench_guard_new(void *ctx) { return gvlbench_guard_new_kind(ctx, GUARD_OWNER); }

/* Stop guarding: the slot is free again (call it before the Store goes). */
void gvlbench_guard_free(void *guard) {
    if (guard)
        atomic_store(&((gvlbench_guard *)guard)->ctx, TOMBSTONE);
}

/* The guard's generation now: give it to gvlbench_guard_free_generation. */
unsigned long gvlbench_guard_generation(void *guard) {
    return atomic_load(&((gvlbench_guard *)guard)->generation);
}

/* Stop guarding, if the slot still guards the Store it was made for (`generation`): a Store
 * made since at the same address keeps its guard. */
void gvlbench_guard_free_generation(void *guard, unsigned long generation) {
    gvlbench_guard *g = guard;
    if (g && atomic_load(&g->generation) == generation)
        atomic_store(&g->ctx, TOMBSTONE);
}

unsigned long gvlbench_guard_refused(void *guard) {
    return atomic_load(&((gvlbench_guard *)guard)->refused);
}

/* OWNER: the kernel thread id inside the guard's Store now, 0 for nobody; AFFINITY: the
 * thread the Store belongs to; MUTEX: 0. */
long gvlbench_guard_owner(void *guard) {
    return atomic_load(&((gvlbench_guard *)guard)->owner);
}

/* The calling thread's last refusal: the owner's thread id (0: none since the last take),
 * and the guard through `guard_out`. Consumed. */
long gvlbench_take_refusal(void **guard_out) {
    long owner = refused_owner;
    if (guard_out)
        *guard_out = refused_guard;
    if (owner)
        atomic_fetch_sub_explicit(&gvlbench_refusals, 1, memory_order_relaxed);
    refused_owner = 0;
    refused_guard = NULL;
    return owner;
}

/* The entry point of the calling thread's last refusal ("wasmtime_func_call", "memory_read",
 * ...); read it before gvlbench_take_refusal, which does not clear it. */
const char *gvlbench_refused_entry(void) { return refused_entry; }

/* Give an existing guard another design, from the calling thread (the new owner for
 * AFFINITY). For measurements that price every design on one Store in turn: call it only
 * while no thread is inside the Store. 0 on success, -1 for an unknown design. */
int gvlbench_guard_set_kind(void *guard, int kind) {
    gvlbench_guard *g = guard;
    if (kind < GUARD_OWNER || kind > GUARD_MUTEX)
        return -1;
    if (kind == GUARD_MUTEX && !g->mutex_ready)
        init_mutex(g);
    g->kind = kind;
    atomic_store(&g->owner, kind == GUARD_AFFINITY ? current_tid() : 0);
    return 0;
}

/* The calling thread's kernel thread id, as the guard records it. */
long gvlbench_thread_id(void) { return current_tid(); }

/* -- the timeline: when each thread entered and left Wasm, measured here -------------------- *
 * `gvlbench run --timeline` (binding/timeline.py) asks where each thread's time went. The
 * lock waits it shows are measured, not inferred: a CLOCK_MONOTONIC timestamp taken here as
 * a call returns (before ctypes takes the interpreter lock back), or as a host callback is
 * entered (before ctypes' thunk takes it), against time.perf_counter_ns() (the same clock on
 * Linux) taken in Python once the lock is held. Each thread appends to a log of its own
 * (allocated on its first event, kept for the process's life, so a log outlives its thread
 * and is read after it ended); the logs are chained for the reader. Only the thread that owns
 * a log writes it, and Python reads and clears them while no measured thread runs.
 *   TL_CALL        gvlbench_tl_wasmtime_func_call: entered .. returned (the guard included)
 *   TL_CALLBACK    gvlbench_tl_callback: entered from Wasm .. the Python callback returned
 *   TL_GUARD_WAIT  a mutex guard's entry that found the Store taken: waited .. got it
 *   TL_REFUSED     a refusal by the owner word or affinity guard (start == end)
 * Guard waits and refusals are logged only while `gvlbench_timeline_on` is set (one relaxed
 * load on the mutex's path and on a refusal's cold one); calls and callbacks are logged
 * whenever their timed entry points are used, which only a timeline does. */
enum { TL_CALL = 1, TL_CALLBACK = 2, TL_GUARD_WAIT = 3, TL_REFUSED = 4 };

typedef struct {
    uint64_t start_ns, end_ns;
    const char *what; /* the entry point: a string literal of this library */
    uint32_t kind, pad;
} tl_event;

typedef struct tl_log {
    long tid;
    atomic_size_t count; /* written by the owning thread only */
    size_t capacity;
    atomic_ulong dropped; /* events past the capacity, not kept */
    tl_event *events;
    struct tl_log *next;
} tl_log;

static _Atomic(tl_log *) tl_logs;
atomic_int gvlbench_timeline_on;
static size_t tl_capacity = 1 << 14; /* events a log keeps; gvlbench_tl_start sets it */
static _Thread_local tl_log *my_log;

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static __attribute__((noinline)) tl_log *tl_new_log(void) {
    tl_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->events = calloc(tl_capacity, sizeof(tl_event));
    if (!log->events) {
        free(log);
        return NULL;
    }
    log->capacity = tl_capacity;
    log->tid = current_tid();
    tl_log *head = atomic_load(&tl_logs);
    do
        log->next = head;
    while (!atomic_compare_exchange_weak(&tl_logs, &head, log));
    return my_log = log;
}

static void tl_record(uint32_t kind, uint64_t start, uint64_t end, const char *what) {
    tl_log *log = my_log ? my_log : tl_new_log();
    if (!log)
        return;
    size_t n = atomic_load_explicit(&log->count, memory_order_relaxed);
    if (n >= log->capacity) {
        atomic_fetch_add_explicit(&log->dropped, 1, memory_order_relaxed);
        return;
    }
    log->events[n] = (tl_event){start, end, what, kind, 0};
    atomic_store_explicit(&log->count, n + 1, memory_order_release);
}

static inline int timeline_on(void) {
    return atomic_load_explicit(&gvlbench_timeline_on, memory_order_relaxed);
}

/* Logs made from now on keep `capacity` events each; every log is emptied; logging is on. */
void gvlbench_tl_start(size_t capacity) {
    if (capacity)
        tl_capacity = capacity;
    for (tl_log *log = atomic_load(&tl_logs); log; log = log->next) {
        atomic_store(&log->count, 0);
        atomic_store(&log->dropped, 0);
    }
    atomic_store(&gvlbench_timeline_on, 1);
}

/* Guard waits and refusals are no longer logged (timed calls and callbacks still are). */
void gvlbench_tl_stop(void) { atomic_store(&gvlbench_timeline_on, 0); }

/* The first log of the chain (each has its `next`), NULL for none: read while no measured
 * thread runs, then emptied with gvlbench_tl_start. */
void *gvlbench_tl_first(void) { return atomic_load(&tl_logs); }

/* CLOCK_MONOTONIC now, in nanoseconds, as the logs read it. */
uint64_t gvlbench_tl_now(void) { return now_ns(); }

/* -- entering and leaving ------------------------------------------------------------------ */

typedef struct {
    gvlbench_guard *guard; /* NULL: an unguarded Store, pass straight through */
    int kind;              /* the design it entered under: it leaves under the same one */
    int taken;             /* this entry took the owner word or the mutex: give it back */
    int refused;
} entry_t;

static __attribute__((noinline, cold)) int refuse(gvlbench_guard *g, long owner,
                                                   const char *entry) {
    atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
    if (!refused_owner) /* a refusal not taken is replaced: one waiting per thread at most */
        atomic_fetch_add_explicit(&gvlbench_refusals, 1, memory_order_relaxed);
    refused_guard = g;
    refused_owner = owner;
    refused_entry = entry;
    if (timeline_on()) {
        uint64_t t = now_ns();
        tl_record(TL_REFUSED, t, t, entry);
    }
    return 1;
}

static inline entry_t enter(const void *ctx, const char *entry) {
    entry_t e = {guard_of(ctx), 0, 0, 0};
    gvlbench_guard *g = e.guard;
    if (!g)
        return e;
    long self = current_tid();
    e.kind = g->kind;
    if (e.kind == GUARD_OWNER) {
        long owner = 0;
        if (atomic_compare_exchange_strong_explicit(&g->owner, &owner, self,
                                                    memory_order_acquire, memory_order_relaxed))
            e.taken = 1;
        else if (owner != self) /* owner == self: re-entry from a host callback, admitted */
            e.refused = refuse(g, owner, entry);
    } else if (e.kind == GUARD_AFFINITY) {
        long owner = atomic_load_explicit(&g->owner, memory_order_relaxed);
        if (owner != self)
            e.refused = refuse(g, owner, entry);
    } else {
        if (!timeline_on()) {
            pthread_mutex_lock(&g->mutex);
        } else if (pthread_mutex_trylock(&g->mutex) != 0) { /* taken: the wait is logged */
            uint64_t waited = now_ns();
            pthread_mutex_lock(&g->mutex);
            tl_record(TL_GUARD_WAIT, waited, now_ns(), entry);
        }
        e.taken = 1;
    }
    return e;
}

static inline void leave(entry_t e) {
    if (!e.taken)
        return;
    if (e.kind == GUARD_OWNER)
        atomic_store_explicit(&e.guard->owner, 0, memory_order_release);
    else
        pthread_mutex_unlock(&e.guard->mutex);
}

static __attribute__((noinline, cold)) error_t_ refusal_error(const entry_t *e) {
    return lib.wasmtime_error_new(e->kind == GUARD_AFFINITY ? AFFINITY_MESSAGE : REFUSED_MESSAGE);
}

/* An entry point that returns `type` (a refusal returns `refused_value`), guarding the Store
 * `ctx`; PARAMS and ARGS are its parameter list and the names passed on. */
#define GUARDED(type, refused_value, name, PARAMS, ARGS)                                      \
    type gvlbench_##name PARAMS {                                                             \
        entry_t e = enter(ctx, #name);                                                        \
        if (__builtin_expect(e.refused, 0))                                                   \
            return refused_value;                                                             \
        type r = ((type(*) PARAMS)lib.name)ARGS;                                              \
        leave(e);                                                                             \
        return r;                                                                             \
    }
#define GUARDED_ERROR(name, PARAMS, ARGS) GUARDED(error_t_, refusal_error(&e), name, PARAMS, ARGS)
#define GUARDED_VOID(name, PARAMS, ARGS)                                                      \
    void gvlbench_##name PARAMS {                                                             \
        entry_t e = enter(ctx, #name);                                                        \
        if (__builtin_expect(e.refused, 0))                                                   \
            return;                                                                           \
        ((void(*) PARAMS)lib.name)ARGS;                                                       \
        leave(e);                                                                             \
    }

typedef const void *cp; /* the C API's struct pointers, opaque here */

GUARDED_ERROR(wasmtime_func_call,
              (void *ctx, cp func, cp args, size_t nargs, void *results, size_t nresults,
               void **trap),
              (ctx, func, args, nargs, results, nresults, trap))
GUARDED(uint8_t *, NULL, wasmtime_memory_data, (void *ctx, cp memory), (ctx, memory))
GUARDED(size_t, 0, wasmtime_memory_data_size, (void *ctx, cp memory), (ctx, memory))
GUARDED(uint64_t, 0, wasmtime_memory_size, (void *ctx, cp memory), (ctx, memory))
GUARDED_ERROR(wasmtime_memory_grow, (void *ctx, cp memory, uint64_t delta, uint64_t *prev),
              (ctx, memory, delta, prev))
/* wasmtime_global_get has no way to say no: a refusal writes an invalid kind and -2**62 (a
 * small integer in Ruby too, cheap to compare) into the result, so a typed binding looks
 * further only when it reads that value, and a generic one sees an unknown kind. */
#define GLOBAL_REFUSED_KIND 0xff
#define GLOBAL_REFUSED_VALUE (-(INT64_C(1) << 62))
void gvlbench_wasmtime_global_get(void *ctx, cp global, void *out) {
    entry_t e = enter(ctx, "wasmtime_global_get");
    if (__builtin_expect(e.refused, 0)) {
        *(uint8_t *)out = GLOBAL_REFUSED_KIND;
        *(int64_t *)((uint8_t *)out + 8) = GLOBAL_REFUSED_VALUE;
        return;
    }
    ((void (*)(void *, cp, void *))lib.wasmtime_global_get)(ctx, global, out);
    leave(e);
}
GUARDED_ERROR(wasmtime_global_set, (void *ctx, cp global, cp val), (ctx, global, val))
GUARDED(bool, false, wasmtime_table_get, (void *ctx, cp table, uint64_t index, void *out),
        (ctx, table, index, out))
GUARDED_ERROR(wasmtime_table_set, (void *ctx, cp table, uint64_t index, cp val),
              (ctx, table, index, val))
GUARDED_ERROR(wasmtime_table_grow,
              (void *ctx, cp table, uint64_t delta, cp init, uint64_t *prev),
              (ctx, table, delta, init, prev))
GUARDED(uint64_t, 0, wasmtime_table_size, (void *ctx, cp table), (ctx, table))
GUARDED_ERROR(wasmtime_context_get_fuel, (void *ctx, uint64_t *fuel), (ctx, fuel))
GUARDED_ERROR(wasmtime_context_set_fuel, (void *ctx, uint64_t fuel), (ctx, fuel))
GUARDED_ERROR(wasmtime_context_gc, (void *ctx), (ctx))
GUARDED_VOID(wasmtime_context_set_epoch_deadline, (void *ctx, uint64_t ticks), (ctx, ticks))
GUARDED_ERROR(wasmtime_context_set_wasi, (void *ctx, void *wasi), (ctx, wasi))
GUARDED(bool, false, wasmtime_instance_export_get,
        (void *ctx, cp instance, const char *name, size_t len, void *item),
        (ctx, instance, name, len, item))
GUARDED(bool, false, wasmtime_instance_export_nth,
        (void *ctx, cp instance, size_t index, char **name, size_t *len, void *item),
        (ctx, instance, index, name, len, item))
GUARDED_ERROR(wasmtime_instance_new,
              (void *ctx, cp module, cp imports, size_t nimports, void *instance, void **trap),
              (ctx, module, imports, nimports, instance, trap))
GUARDED_ERROR(wasmtime_linker_instantiate,
              (cp linker, void *ctx, cp module, void *instance, void **trap),
              (linker, ctx, module, instance, trap))
GUARDED(void *, NULL, wasmtime_func_type, (void *ctx, cp func), (ctx, func))
GUARDED(void *, NULL, wasmtime_global_type, (void *ctx, cp global), (ctx, global))
GUARDED(void *, NULL, wasmtime_memory_type, (void *ctx, cp memory), (ctx, memory))
GUARDED(void *, NULL, wasmtime_table_type, (void *ctx, cp table), (ctx, table))
GUARDED(uint64_t, 0, wasmtime_memory_page_size, (void *ctx, cp memory), (ctx, memory))
GUARDED_VOID(wasmtime_func_new,
             (void *ctx, cp type, void *callback, void *env, void *finalizer, void *ret),
             (ctx, type, callback, env, finalizer, ret))
GUARDED_ERROR(wasmtime_global_new, (void *ctx, cp type, cp val, void *ret), (ctx, type, val, ret))
GUARDED_ERROR(wasmtime_memory_new, (void *ctx, cp type, void *ret), (ctx, type, ret))
GUARDED_ERROR(wasmtime_table_new, (void *ctx, cp type, cp init, void *ret),
              (ctx, type, init, ret))
GUARDED_ERROR(wasmtime_instance_pre_instantiate, (cp pre, void *ctx, void *instance, void **trap),
              (pre, ctx, instance, trap))
GUARDED_ERROR(wasmtime_linker_module, (cp linker, void *ctx, cp name, size_t len, cp module),
              (linker, ctx, name, len, module))
GUARDED_ERROR(wasmtime_linker_define,
              (cp linker, void *ctx, cp module, size_t mlen, cp name, size_t nlen, cp item),
              (linker, ctx, module, mlen, name, nlen, item))
GUARDED_ERROR(wasmtime_linker_define_instance,
              (cp linker, void *ctx, cp name, size_t len, cp instance),
              (linker, ctx, name, len, instance))
GUARDED_ERROR(wasmtime_linker_get_default,
              (cp linker, void *ctx, cp name, size_t len, void *func),
              (linker, ctx, name, len, func))
GUARDED(bool, false, wasmtime_linker_get,
        (cp linker, void *ctx, cp module, size_t mlen, cp name, size_t nlen, void *item),
        (linker, ctx, module, mlen, name, nlen, item))
GUARDED_ERROR(wasmtime_linker_define_unknown_imports_as_default_values,
              (cp linker, void *ctx, cp module), (linker, ctx, module))
GUARDED(uint8_t, 0, wasmtime_memory_page_size_log2, (void *ctx, cp memory), (ctx, memory))
GUARDED(void *, NULL, wasmtime_context_get_data, (void *ctx), (ctx))
GUARDED_VOID(wasmtime_context_set_data, (void *ctx, void *data), (ctx, data))
GUARDED(bool, false, wasmtime_externref_new,
        (void *ctx, void *data, void *finalizer, void *out), (ctx, data, finalizer, out))
GUARDED(void *, NULL, wasmtime_externref_data, (void *ctx, cp ref), (ctx, ref))

/* Memory.read / Memory.write as a native binding does them: the data pointer taken, the
 * bounds checked and the bytes copied in one native call. An error when the range is out of
 * bounds. `gvlbench_plain_memory_read/write` are that, unguarded: the baseline the guarded
 * ones are priced against. */
static error_t_ copy(void *ctx, cp memory, uint64_t offset, void *buf, size_t len,
                     int to_memory) {
    uint8_t *data = ((uint8_t * (*)(void *, cp)) lib.wasmtime_memory_data)(ctx, memory);
    size_t size = ((size_t(*)(void *, cp))lib.wasmtime_memory_data_size)(ctx, memory);
    if (offset > size || len > size - offset)
        return lib.wasmtime_error_new("out of bounds memory access");
    if (len)
        to_memory ? memcpy(data + offset, buf, len) : memcpy(buf, data + offset, len);
    return NULL;
}

error_t_ gvlbench_plain_memory_read(void *ctx, cp memory, uint64_t offset, void *dst,
                                    size_t len) {
    return copy(ctx, memory, offset, dst, len, 0);
}

error_t_ gvlbench_plain_memory_write(void *ctx, cp memory, uint64_t offset, const void *src,
                                     size_t len) {
    return copy(ctx, memory, offset, (void *)src, len, 1);
}

/* The same inside one entry of the Store's guard: no other thread can grow (and move) the
 * memory between the pointer being taken and the copy. An error when refused. */
static error_t_ guarded_copy(void *ctx, cp memory, uint64_t offset, void *buf, size_t len,
                             int to_memory) {
    entry_t e = enter(ctx, to_memory ? "memory_write" : "memory_read");
    if (__builtin_expect(e.refused, 0))
        return refusal_error(&e);
    error_t_ error = copy(ctx, memory, offset, buf, len, to_memory);
    leave(e);
    return error;
}

error_t_ gvlbench_memory_read(void *ctx, cp memory, uint64_t offset, void *dst, size_t len) {
    return guarded_copy(ctx, memory, offset, dst, len, 0);
}

error_t_ gvlbench_memory_write(void *ctx, cp memory, uint64_t offset, const void *src,
                               size_t len) {
    return guarded_copy(ctx, memory, offset, (void *)src, len, 1);
}

/* -- the component model ------------------------------------------------------------------- *
 * Every entry point of libwasmtime's component API that wasmtime-py 50.x calls with a
 * `wasmtime_context_t *` (wasmtime/component/*.h), guarded the same way. They are looked up
 * by an init of their own, so a libwasmtime built without the component model keeps its core
 * guard: gvlbench_guard_init_component returns how many it lacks. Left out on purpose:
 *   - wasmtime_component_func_post_return: a no-op since wasmtime 42, kept for
 *     compatibility (post-return runs inside wasmtime_component_func_call now). A refusal
 *     there would turn a call that succeeded into an error, so it passes straight through.
 *   - the _async variants (wasmtime-py never calls them): they return a future that runs the
 *     Wasm later, in wasmtime_call_future_poll, which takes no context.
 *   - callbacks into the host (component host functions, resource destructors) get the
 *     context inside a guarded call on the same thread: the owner word admits them, the
 *     mutex is recursive, affinity is the same thread.
 * realloc (lowering a string or a list into the guest) runs inside wasmtime_component_func_call.
 */
#define COMPONENT_ENTRY_POINTS(X)                                                             \
    X(wasmtime_component_func_call)                                                           \
    X(wasmtime_component_func_type)                                                           \
    X(wasmtime_component_instance_get_export_index)                                           \
    X(wasmtime_component_instance_get_func)                                                   \
    X(wasmtime_component_linker_instantiate)                                                  \
    X(wasmtime_component_resource_any_drop)                                                   \
    X(wasmtime_component_resource_any_to_host)                                                \
    X(wasmtime_component_resource_host_to_any)

static struct {
#define SLOT(name) void *name;
    COMPONENT_ENTRY_POINTS(SLOT)
#undef SLOT
} clib;

/* After gvlbench_guard_init (which finds wasmtime_error_new for refusals): 0 when every
 * component entry point was found in the libwasmtime at `path`, else the number missing
 * (-1: no library). Until it returns 0, the gvlbench_wasmtime_component_* functions must not
 * be called. */
int gvlbench_guard_init_component(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!handle)
        handle = dlopen(path, RTLD_NOW);
    if (!handle)
        return -1;
    int missing = 0;
#define LOOKUP(name) missing += (clib.name = dlsym(handle, #name)) == NULL;
    COMPONENT_ENTRY_POINTS(LOOKUP)
#undef LOOKUP
    return missing;
}

/* As GUARDED, for a function of the component table. */
#define CGUARDED(type, refused_value, name, PARAMS, ARGS)                                     \
    type gvlbench_##name PARAMS {                                                             \
        entry_t e = enter(ctx, #name);                                                        \
        if (__builtin_expect(e.refused, 0))                                                   \
            return refused_value;                                                             \
        type r = ((type(*) PARAMS)clib.name)ARGS;                                             \
        leave(e);                                                                             \
        return r;                                                                             \
    }
#define CGUARDED_ERROR(name, PARAMS, ARGS) CGUARDED(error_t_, refusal_error(&e), name, PARAMS, ARGS)

/* wasmtime_error_t *wasmtime_component_func_call(const wasmtime_component_func_t *func,
 *     wasmtime_context_t *context, const wasmtime_component_val_t *args, size_t args_size,
 *     wasmtime_component_val_t *results, size_t results_size); */
CGUARDED_ERROR(wasmtime_component_func_call,
               (cp func, void *ctx, cp args, size_t nargs, void *results, size_t nresults),
               (func, ctx, args, nargs, results, nresults))
/* wasmtime_component_func_type_t *wasmtime_component_func_type(
 *     const wasmtime_component_func_t *func, wasmtime_context_t *context);
 * never NULL from the library: NULL is a refusal */
CGUARDED(void *, NULL, wasmtime_component_func_type, (cp func, void *ctx), (func, ctx))
/* wasmtime_component_export_index_t *wasmtime_component_instance_get_export_index(
 *     const wasmtime_component_instance_t *instance, wasmtime_context_t *context,
 *     const wasmtime_component_export_index_t *instance_export_index, const char *name,
 *     size_t name_len);   NULL: not found, or a refusal */
CGUARDED(void *, NULL, wasmtime_component_instance_get_export_index,
         (cp instance, void *ctx, cp index, const char *name, size_t len),
         (instance, ctx, index, name, len))
/* bool wasmtime_component_instance_get_func(const wasmtime_component_instance_t *instance,
 *     wasmtime_context_t *context, const wasmtime_component_export_index_t *export_index,
 *     wasmtime_component_func_t *func_out);   false: not a function, or a refusal */
CGUARDED(bool, false, wasmtime_component_instance_get_func,
         (cp instance, void *ctx, cp index, void *func_out), (instance, ctx, index, func_out))
/* wasmtime_error_t *wasmtime_component_linker_instantiate(
 *     const wasmtime_component_linker_t *linker, wasmtime_context_t *context,
 *     const wasmtime_component_t *component, wasmtime_component_instance_t *instance_out); */
CGUARDED_ERROR(wasmtime_component_linker_instantiate,
               (cp linker, void *ctx, cp component, void *instance_out),
               (linker, ctx, component, instance_out))
/* wasmtime_error_t *wasmtime_component_resource_any_drop(wasmtime_context_t *ctx,
 *     const wasmtime_component_resource_any_t *resource); */
CGUARDED_ERROR(wasmtime_component_resource_any_drop, (void *ctx, cp resource), (ctx, resource))
/* wasmtime_error_t *wasmtime_component_resource_any_to_host(wasmtime_context_t *ctx,
 *     const wasmtime_component_resource_any_t *resource,
 *     wasmtime_component_resource_host_t **ret); */
CGUARDED_ERROR(wasmtime_component_resource_any_to_host, (void *ctx, cp resource, void **ret),
               (ctx, resource, ret))
/* wasmtime_error_t *wasmtime_component_resource_host_to_any(wasmtime_context_t *ctx,
 *     const wasmtime_component_resource_host_t *resource,
 *     wasmtime_component_resource_any_t **ret); */
CGUARDED_ERROR(wasmtime_component_resource_host_to_any, (void *ctx, cp resource, void **ret),
               (ctx, resource, ret))

/* -- the timeline's timed entry points ------------------------------------------------------ */

/* wasmtime_func_call with its entry and return timed here: through the Store's guard when it
 * has one (a Store without passes straight through), so a guard's wait falls inside the
 * call. Called through a ctypes.CDLL handle (released: the lock is dropped before the entry
 * timestamp and taken back after the return one) or a PyDLL handle (held). */
error_t_ gvlbench_tl_wasmtime_func_call(void *ctx, cp func, cp args, size_t nargs, void *results,
                                        size_t nresults, void **trap) {
    uint64_t entered = now_ns();
    error_t_ error = gvlbench_wasmtime_func_call(ctx, func, args, nargs, results, nresults, trap);
    tl_record(TL_CALL, entered, now_ns(), "wasmtime_func_call");
    return error;
}

/* A host callback as libwasmtime calls it (wasmtime_func_callback_t): wasmtime-py's
 * trampoline is a ctypes thunk, which takes the interpreter lock before any Python runs. The
 * timeline's trampoline is registered as `callback` with this function in front of it, so
 * the entry is timed before the lock is asked for. Logged only while the timeline is on. */
typedef size_t (*host_callback_t)(void *env, void *caller, const void *args, size_t nargs,
                                  void *results, size_t nresults);
static _Atomic(host_callback_t) tl_inner;

void gvlbench_tl_set_callback(void *inner) { atomic_store(&tl_inner, (host_callback_t)inner); }

size_t gvlbench_tl_callback(void *env, void *caller, const void *args, size_t nargs,
                            void *results, size_t nresults) {
    host_callback_t inner = atomic_load_explicit(&tl_inner, memory_order_relaxed);
    if (!timeline_on())
        return inner(env, caller, args, nargs, results, nresults);
    uint64_t entered = now_ns();
    size_t trap = inner(env, caller, args, nargs, results, nresults);
    tl_record(TL_CALLBACK, entered, now_ns(), "callback");
    return trap;
}
