// itemu_rt.cpp - the fiber runtime of IronTensor's MSL emulator (see itemu.h).
//
// One threadgroup runs at a time; each of its GPU threads is a fiber with its own guarded stack.
// Fibers switch only at threadgroup_barrier, simdgroup_barrier and simd_* collectives, so those
// really synchronize the group or the simdgroup; everything between two sync points of one thread
// runs uninterrupted, which is a legal GPU schedule. Races show up because threadgroup memory
// starts as NaN and the tests run the fibers in several orders.
#include "itemu.h"
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cfloat>
#include <csetjmp>
#include <string>
#include <vector>
#include <algorithm>
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#define ITEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ITEMU_ASAN 1
#endif
#endif
#ifdef ITEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "itemu: the fiber switch is written for x86-64 (SysV)"
#endif
// itemu_switch(save, next): push the callee-saved registers, store rsp in *save, load next, pop.
extern "C" void itemu_switch(void **save, void *next);
asm(".text\n"
    ".globl itemu_switch\n"
    ".type itemu_switch,@function\n"
    "itemu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size itemu_switch,.-itemu_switch\n");

namespace itemu {
enum State { RUNNING, WAIT_BARRIER, WAIT_SIMD, DONE };
static const size_t SLOT = 64; // largest value a simd collective may exchange
static const size_t TG_LIMIT = 32 * 1024;

struct Fiber {
    ThreadState ts;
    void *sp;
    char *stack;
    State st;
    const char *file;
    int line;
    unsigned bytes;
};
struct Site {
    const void *key;
    size_t off;
};
struct Mapping { // a guarded copy of (a union of overlapping) device buffers
    char *host, *copy, *map;
    size_t len, map_len;
};
struct Run {
    const itemu_kernel *k;
    const itemu_dispatch *d;
    itemu_options o;
    void *buf[ITEMU_MAX_BIND];
    size_t buf_len[ITEMU_MAX_BIND];
    std::vector<Mapping> maps;
    std::vector<Fiber> f;
    char *stacks = nullptr;
    size_t stacks_len = 0, page = 4096;
    void *sched_sp = nullptr;
    int n = 0, nsg = 0, width = 32;
    std::vector<char> arena;
    size_t arena_used = 0, dyn_total = 0;
    std::vector<Site> sites;
    std::vector<char> dyn[ITEMU_MAX_BIND];
    std::vector<char> exch, rel;
    std::vector<uint64_t> active;
    bool failed = false;
    std::string msg;
    const void *sched_stack_bottom = nullptr;
    size_t sched_stack_size = 0;
    itemu_report rep;
    sigjmp_buf fault_jmp;
    volatile sig_atomic_t faulted = 0;
    void *fault_addr = nullptr, *fault_pc = nullptr;
    void *fault_fake = nullptr;
    char *fault_sp = nullptr;
    Fiber *fault_fiber = nullptr;
};
static thread_local Run *R;
static thread_local Fiber *CUR;

ThreadState *cur() { return &CUR->ts; }

static std::string where(const Fiber *f) {
    char b[160];
    const ThreadState &t = f->ts;
    snprintf(b, sizeof b, " [threadgroup (%u,%u,%u), thread (%u,%u,%u)]", t.tgpig[0], t.tgpig[1], t.tgpig[2],
             t.tpitg[0], t.tpitg[1], t.tpitg[2]);
    return b;
}

static void to_scheduler() {
    R->rep.switches++;
#ifdef ITEMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, R->sched_stack_bottom, R->sched_stack_size);
#endif
    itemu_switch(&CUR->sp, R->sched_sp);
#ifdef ITEMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void fail(const char *fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (!R || !CUR) {
        fprintf(stderr, "itemu: %s\n", b);
        abort();
    }
    if (!R->failed) {
        R->failed = true;
        R->msg = std::string(b) + where(CUR);
    }
    CUR->st = DONE;
    for (;;) to_scheduler(); // never resumed: the group is abandoned
}

float fast_math(float exact) {
    if (!R || R->o.fast_math_ulps <= 0 || !(exact == exact)) return exact;
    uint32_t bits; // the error depends only on the value, as a real approximation would: ties stay ties
    memcpy(&bits, &exact, 4);
    uint64_t s = (uint64_t)bits * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    s = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    s ^= s >> 31;
    int span = 2 * R->o.fast_math_ulps + 1, k = (int)(s % (uint64_t)span) - R->o.fast_math_ulps;
    return exact * (1.0f + (float)k * (FLT_EPSILON * 0.5f));
}

void *buffer_arg(int index) {
    if (index < 0 || index >= ITEMU_MAX_BIND) fail("[[buffer(%d)]]: index out of range 0..30", index);
    if (!R->buf[index]) fail("reads [[buffer(%d)]] but nothing is bound at index %d", index, index);
    return R->buf[index];
}
void *tgmem_arg(int index) {
    if (index < 0 || index >= ITEMU_MAX_BIND || R->dyn[index].empty())
        fail("[[threadgroup(%d)]] used but no threadgroup memory length was set for index %d", index, index);
    return R->dyn[index].data();
}
void *tg_static(const void *key, size_t size, size_t align, const char *file, int line) {
    for (const Site &s : R->sites)
        if (s.key == key) return R->arena.data() + s.off;
    size_t off = (R->arena_used + align - 1) & ~(align - 1);
    if (off + size + R->dyn_total > TG_LIMIT)
        fail("%s:%d: threadgroup memory %zu bytes static + %zu dynamic exceeds 32 KiB", file, line, off + size, R->dyn_total);
    R->sites.push_back({key, off});
    R->arena_used = off + size;
    if (R->arena_used > R->rep.threadgroup_static_bytes) R->rep.threadgroup_static_bytes = R->arena_used;
    return R->arena.data() + off;
}
void barrier(const char *file, int line) {
    CUR->st = WAIT_BARRIER;
    CUR->file = file;
    CUR->line = line;
    to_scheduler();
}
void simd_barrier(const char *file, int line) {
    CUR->bytes = 0;
    CUR->st = WAIT_SIMD;
    CUR->file = file;
    CUR->line = line;
    to_scheduler();
}
const void *simd_exchange(const void *val, size_t bytes, const char *file, int line, uint64_t *mask, int *lanes) {
    if (bytes > SLOT) fail("simd collective on a %zu-byte value (emulator limit %zu)", bytes, SLOT);
    Fiber *f = CUR;
    memcpy(R->exch.data() + (size_t)f->ts.tiitg * SLOT, val, bytes);
    f->bytes = (unsigned)bytes;
    f->st = WAIT_SIMD;
    f->file = file;
    f->line = line;
    to_scheduler();
    unsigned sg = f->ts.sgitg;
    int lo = (int)sg * R->width, cnt = R->n - lo;
    *mask = R->active[sg];
    *lanes = cnt < R->width ? cnt : R->width;
    return R->rel.data() + (size_t)sg * 64 * SLOT;
}

static void fiber_main() {
#ifdef ITEMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &R->sched_stack_bottom, &R->sched_stack_size);
#endif
    R->k->fn();
    CUR->st = DONE;
    for (;;) to_scheduler();
}
static void *fresh_stack(char *stack, size_t size) {
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;             // return address slot of fiber_main (keeps the ABI alignment)
    *--sp = (void *)&fiber_main; // where itemu_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    return sp;
}
static bool same_site(const Fiber &a, const Fiber &b) {
    return a.line == b.line && (a.file == b.file || !strcmp(a.file, b.file));
}
static void release_simd(Run &r, int sg, uint64_t m) {
    int lo = sg * r.width;
    r.active[sg] = m;
    for (int l = 0; l < r.width; l++) {
        if (!((m >> l) & 1u)) continue;
        Fiber &f = r.f[lo + l];
        f.st = RUNNING;
        if (f.bytes) memcpy(r.rel.data() + ((size_t)sg * 64 + 0) * SLOT + (size_t)l * f.bytes, r.exch.data() + (size_t)(lo + l) * SLOT, f.bytes);
    }
    r.rep.simd_syncs++;
}
static void group_fail(Run &r, const std::string &m) {
    r.failed = true;
    r.msg = m;
}

static void run_group(Run &r, const uint32_t g[3], uint64_t gindex) {
    const itemu_dispatch *d = r.d;
    uint32_t tg[3] = {d->tptg[0], d->tptg[1], d->tptg[2]};
    if (d->grid[0])
        for (int i = 0; i < 3; i++) {
            uint32_t rest = d->grid[i] - g[i] * d->tptg[i];
            if (rest < tg[i]) tg[i] = rest;
        }
    int n = (int)(tg[0] * tg[1] * tg[2]);
    r.n = n;
    r.nsg = (n + r.width - 1) / r.width;
    r.arena_used = 0;
    r.sites.clear();
    if (!r.o.no_poison) {
        memset(r.arena.data(), 0xff, r.arena.size());
        for (int i = 0; i < ITEMU_MAX_BIND; i++)
            if (!r.dyn[i].empty()) memset(r.dyn[i].data(), 0xff, r.dyn[i].size());
    }
    r.exch.assign((size_t)n * SLOT, 0);
    r.rel.assign((size_t)r.nsg * 64 * SLOT, 0);
    r.active.assign(r.nsg, 0);
    for (int i = 0; i < n; i++) {
        Fiber &f = r.f[i];
        ThreadState &t = f.ts;
        uint32_t local[3] = {i % tg[0], (i / tg[0]) % tg[1], i / (tg[0] * tg[1])};
        for (int k = 0; k < 3; k++) {
            t.tpitg[k] = local[k];
            t.tgpig[k] = g[k];
            t.tptg[k] = tg[k];
            t.tgpg[k] = d->groups[k];
            t.tpig[k] = g[k] * d->tptg[k] + local[k];
            t.tpg[k] = d->grid[0] ? d->grid[k] : d->groups[k] * d->tptg[k];
        }
        t.tiitg = (uint32_t)i;
        t.tiisg = (uint32_t)(i % r.width);
        t.sgitg = (uint32_t)(i / r.width);
        t.sgptg = (uint32_t)r.nsg;
        t.width = (uint32_t)r.width;
#ifdef ITEMU_ASAN
        ASAN_UNPOISON_MEMORY_REGION(f.stack, r.o.stack_size); // abandoned fibers leave stale redzones
#endif
        f.st = RUNNING;
        f.file = "";
        f.line = 0;
        f.bytes = 0;
        f.sp = fresh_stack(f.stack, r.o.stack_size);
    }
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) order[i] = r.o.order == 1 ? n - 1 - i : i;
    if (r.o.order >= 2) {
        uint64_t s = (uint64_t)r.o.order * 0x9E3779B97F4A7C15ull + gindex * 0xBF58476D1CE4E5B9ull + 1;
        for (int i = n - 1; i > 0; i--) {
            s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
            int j = (int)((s * 0x2545F4914F6CDD1Dull >> 33) % (uint64_t)(i + 1));
            std::swap(order[i], order[j]);
        }
    }
    for (;;) {
        for (int oi = 0; oi < n; oi++) {
            Fiber &f = r.f[order[oi]];
            if (f.st != RUNNING) continue;
            CUR = &f;
            r.rep.switches++;
#ifdef ITEMU_ASAN
            void *fake = nullptr;
            __sanitizer_start_switch_fiber(&fake, f.stack, r.o.stack_size);
#endif
            itemu_switch(&r.sched_sp, f.sp);
#ifdef ITEMU_ASAN
            __sanitizer_finish_switch_fiber(fake, &r.sched_stack_bottom, &r.sched_stack_size);
#endif
            CUR = nullptr;
            if (r.failed) return;
        }
        int done = 0, at_barrier = 0;
        for (int i = 0; i < n; i++) {
            done += r.f[i].st == DONE;
            at_barrier += r.f[i].st == WAIT_BARRIER;
        }
        if (done == n) return;
        bool released = false;
        // 1. a simdgroup whose live lanes all wait at one collective: full (live) mask
        for (int sg = 0; sg < r.nsg; sg++) {
            int lo = sg * r.width, hi = std::min(lo + r.width, n), live = 0, waiting = 0, first = -1;
            bool split = false;
            uint64_t m = 0;
            for (int i = lo; i < hi; i++) {
                if (r.f[i].st == DONE) continue;
                live++;
                if (r.f[i].st != WAIT_SIMD) continue;
                waiting++;
                if (first < 0) first = i;
                if (same_site(r.f[i], r.f[first])) m |= 1ull << (i - lo);
                else split = true;
            }
            if (!waiting || waiting != live || split) continue;
            release_simd(r, sg, m);
            released = true;
        }
        if (released) continue;
        // 2. the threadgroup barrier, once every live thread waits at it
        if (at_barrier && at_barrier == n - done) {
            int first = 0;
            while (r.f[first].st != WAIT_BARRIER) first++;
            char b[400];
            if (done) {
                snprintf(b, sizeof b, "threadgroup_barrier at %s:%d reached by %d threads while %d threads of the group already returned (every thread of a group must reach each barrier)",
                         r.f[first].file, r.f[first].line, at_barrier, done);
                group_fail(r, b + where(&r.f[first]));
                return;
            }
            for (int i = 0; i < n; i++)
                if (!same_site(r.f[i], r.f[first])) {
                    snprintf(b, sizeof b, "threads wait at different threadgroup_barriers (%s:%d and %s:%d): barrier in divergent control flow",
                             r.f[first].file, r.f[first].line, r.f[i].file, r.f[i].line);
                    group_fail(r, b + where(&r.f[i]));
                    return;
                }
            for (int i = 0; i < n; i++) r.f[i].st = RUNNING;
            r.rep.barriers++;
            continue;
        }
        // 3. a divergent collective: release one same-site cohort with a partial mask (legal MSL:
        //    the lanes on one side of a branch)
        for (int sg = 0; sg < r.nsg && !released; sg++) {
            int lo = sg * r.width, hi = std::min(lo + r.width, n), first = -1;
            uint64_t m = 0;
            for (int i = lo; i < hi; i++) {
                if (r.f[i].st != WAIT_SIMD) continue;
                if (first < 0) first = i;
                if (same_site(r.f[i], r.f[first])) m |= 1ull << (i - lo);
            }
            if (first < 0) continue;
            release_simd(r, sg, m);
            r.rep.partial_simd_syncs++;
            released = true;
        }
        if (released) continue;
        group_fail(r, "deadlock: no thread of the group can make progress");
        return;
    }
}

// ---- device buffers behind guard pages, and the fault handler --------------------------------
static void map_buffers(Run &r) {
    const itemu_dispatch *d = r.d;
    struct Range { char *lo, *hi; };
    std::vector<Range> ranges;
    for (int i = 0; i < ITEMU_MAX_BIND; i++) {
        r.buf[i] = d->buf[i];
        r.buf_len[i] = d->buf_len[i];
        if (d->buf[i] && d->buf_len[i]) ranges.push_back({(char *)d->buf[i], (char *)d->buf[i] + d->buf_len[i]});
    }
    if (r.o.no_guard) return;
    std::sort(ranges.begin(), ranges.end(), [](const Range &a, const Range &b) { return a.lo < b.lo; });
    std::vector<Range> merged; // overlapping bindings (in-place kernels) must keep aliasing
    for (const Range &x : ranges) {
        if (!merged.empty() && x.lo < merged.back().hi) merged.back().hi = std::max(merged.back().hi, x.hi);
        else merged.push_back(x);
    }
    for (const Range &x : merged) {
        Mapping m;
        m.host = x.lo;
        m.len = (size_t)(x.hi - x.lo);
        size_t body = (m.len + r.page - 1) / r.page * r.page;
        m.map_len = body + 2 * r.page;
        m.map = (char *)mmap(nullptr, m.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m.map == MAP_FAILED) { fprintf(stderr, "itemu: mmap failed\n"); abort(); }
#ifdef ITEMU_ASAN
        ASAN_UNPOISON_MEMORY_REGION(m.map, m.map_len); // may reuse pages that held poisoned fiber stacks
#endif
        mprotect(m.map, r.page, PROT_NONE);
        mprotect(m.map + r.page + body, r.page, PROT_NONE);
        m.copy = m.map + r.page + body - m.len; // ends exactly at the trailing guard page
        memcpy(m.copy, m.host, m.len);
        r.maps.push_back(m);
    }
    for (int i = 0; i < ITEMU_MAX_BIND; i++) {
        if (!d->buf[i] || !d->buf_len[i]) continue;
        for (const Mapping &m : r.maps)
            if ((char *)d->buf[i] >= m.host && (char *)d->buf[i] < m.host + m.len)
                r.buf[i] = m.copy + ((char *)d->buf[i] - m.host);
    }
}
static void unmap_buffers(Run &r) {
    for (const Mapping &m : r.maps) {
        memcpy(m.host, m.copy, m.len);
        munmap(m.map, m.map_len);
    }
    r.maps.clear();
}
static std::string source_line(void *pc) { // "file.metal:12" via addr2line, best effort
    Dl_info info;
    if (!dladdr(pc, &info) || !info.dli_fname) return "";
    char exe[512] = {0};
    const char *obj = info.dli_fname;
    if (!strchr(obj, '/') || !*obj) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) { exe[n] = 0; obj = exe; }
    }
    char cmd[800];
    snprintf(cmd, sizeof cmd, "addr2line -e '%s' 0x%lx 2>/dev/null", obj, (unsigned long)((char *)pc - (char *)info.dli_fbase));
    FILE *p = popen(cmd, "r");
    if (!p) return "";
    char line[512] = {0};
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    pclose(p);
    line[strcspn(line, " \n")] = 0;
    if (!line[0] || line[0] == '?') return "";
    const char *base = strrchr(line, '/');
    return base ? base + 1 : line;
}
static void on_fault(int sig, siginfo_t *si, void *ucv) {
    Run *r = R;
    if (!r || !CUR) { // not ours: fall back to the default action
        signal(sig, SIG_DFL);
        return;
    }
    r->faulted = 1;
    r->fault_addr = si->si_addr;
    r->fault_pc = (void *)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
    r->fault_sp = (char *)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RSP];
    r->fault_fiber = CUR;
#ifdef ITEMU_ASAN
    __sanitizer_start_switch_fiber(&r->fault_fake, r->sched_stack_bottom, r->sched_stack_size); // back to the scheduler stack
#endif
    siglongjmp(r->fault_jmp, 1);
}
static std::string describe_fault(Run &r) {
    char b[600];
    const char *addr = (const char *)r.fault_addr;
    std::string what = "invalid memory access";
    for (const Mapping &m : r.maps) {
        const char *lo = m.map, *hi = m.map + m.map_len;
        if (addr < lo || addr >= hi) continue;
        for (int i = 0; i < ITEMU_MAX_BIND; i++) {
            if (!r.buf[i] || (char *)r.buf[i] < m.copy || (char *)r.buf[i] >= m.copy + m.len) continue;
            const char *name = "?";
            for (int j = 0; j < r.k->nbinds; j++)
                if (r.k->binds[j].index == i && r.k->binds[j].kind != ITEMU_BIND_THREADGROUP) name = r.k->binds[j].name;
            long off = (long)(addr - (const char *)r.buf[i]);
            snprintf(b, sizeof b, "out-of-bounds access to [[buffer(%d)]] '%s' at byte offset %ld (%zu bytes bound)", i, name, off, r.buf_len[i]);
            what = b;
            break;
        }
    }
    for (const Fiber &f : r.f)
        if (addr >= f.stack - r.page && addr < f.stack) what = "fiber stack overflow (recursion or a huge local array?)";
    if (r.fault_fiber && r.fault_sp < r.fault_fiber->stack) what = "fiber stack overflow (recursion or a huge local array?)";
    std::string at = source_line(r.fault_pc);
    snprintf(b, sizeof b, "%s%s%s", what.c_str(), at.empty() ? "" : " at ", at.c_str());
    return b;
}

// Runs the groups in the given order. Kept apart from anything with destructors: a fault inside a
// kernel longjmps back here from the signal handler (-Wclobbered). Returns the faulting fiber.
__attribute__((noinline)) static Fiber *run_groups(Run &r, const uint64_t *perm, uint64_t total) {
    const itemu_dispatch *d = r.d;
    volatile uint64_t gi = 0;
    if (sigsetjmp(r.fault_jmp, 1) != 0) {
#ifdef ITEMU_ASAN
        __sanitizer_finish_switch_fiber(r.fault_fake, &r.sched_stack_bottom, &r.sched_stack_size);
#endif
        Fiber *f = CUR;
        CUR = nullptr;
        return f;
    }
    for (; gi < total && !r.failed; gi = gi + 1) {
        uint64_t g = perm[gi];
        uint32_t pos[3] = {(uint32_t)(g % d->groups[0]), (uint32_t)((g / d->groups[0]) % d->groups[1]),
                           (uint32_t)(g / ((uint64_t)d->groups[0] * d->groups[1]))};
        run_group(r, pos, g);
        r.rep.groups++;
    }
    return nullptr;
}

static std::vector<const itemu_kernel *> &registry() {
    static std::vector<const itemu_kernel *> v;
    return v;
}
} // namespace itemu

using namespace itemu;

extern "C" void itemu_register(const itemu_kernel *k) { registry().push_back(k); }
extern "C" int itemu_kernel_count(void) { return (int)registry().size(); }
extern "C" const itemu_kernel *itemu_kernel_at(int i) { return i >= 0 && i < (int)registry().size() ? registry()[i] : nullptr; }
extern "C" const itemu_kernel *itemu_kernel_find(const char *name) {
    for (const itemu_kernel *k : registry())
        if (!strcmp(k->name, name)) return k;
    return nullptr;
}
extern "C" void itemu_dispatch_init(itemu_dispatch *d) {
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 3; i++) d->groups[i] = d->tptg[i] = 1;
}
extern "C" void itemu_bind_buffer(itemu_dispatch *d, int index, void *ptr, size_t len) {
    if (index < 0 || index >= ITEMU_MAX_BIND) return;
    d->buf[index] = ptr;
    d->buf_len[index] = len;
}
extern "C" int itemu_bind_bytes(itemu_dispatch *d, int index, const void *ptr, size_t len) {
    size_t at = (d->bytes_used + 15) & ~(size_t)15;
    if (index < 0 || index >= ITEMU_MAX_BIND || len > ITEMU_MAX_BYTES || at + len > sizeof d->bytes) return 0;
    memcpy(d->bytes + at, ptr, len);
    d->bytes_used = at + len;
    itemu_bind_buffer(d, index, d->bytes + at, len);
    return 1;
}
extern "C" void itemu_bind_tgmem(itemu_dispatch *d, int index, size_t len) {
    if (index >= 0 && index < ITEMU_MAX_BIND) d->tg_len[index] = len;
}
extern "C" void itemu_set_threadgroups(itemu_dispatch *d, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t tx, uint32_t ty, uint32_t tz) {
    d->groups[0] = gx; d->groups[1] = gy; d->groups[2] = gz;
    d->tptg[0] = tx; d->tptg[1] = ty; d->tptg[2] = tz;
    d->grid[0] = d->grid[1] = d->grid[2] = 0;
}
extern "C" void itemu_set_threads(itemu_dispatch *d, uint32_t nx, uint32_t ny, uint32_t nz, uint32_t tx, uint32_t ty, uint32_t tz) {
    itemu_set_threadgroups(d, (nx + tx - 1) / tx, (ny + ty - 1) / ty, (nz + tz - 1) / tz, tx, ty, tz);
    d->grid[0] = nx; d->grid[1] = ny; d->grid[2] = nz;
}
extern "C" void itemu_default_options(itemu_options *o) {
    memset(o, 0, sizeof *o);
    const char *s = getenv("ITEMU_ORDER");
    if (s) o->order = atoi(s);
    s = getenv("ITEMU_GROUP_SEED");
    if (s) o->group_seed = (unsigned)strtoul(s, nullptr, 10);
    s = getenv("ITEMU_FAST_MATH_ULPS");
    if (s) o->fast_math_ulps = atoi(s);
}

static int finish(itemu_report *out, const itemu_report &r) {
    if (out) *out = r;
    return r.ok;
}

extern "C" int itemu_run(const itemu_kernel *k, const itemu_dispatch *d, const itemu_options *opt, itemu_report *out) {
    Run r;
    memset(&r.rep, 0, sizeof r.rep);
    r.rep.ok = 1;
    if (opt) r.o = *opt;
    else itemu_default_options(&r.o);
    if (!r.o.stack_size) r.o.stack_size = 64 * 1024;
    r.k = k;
    r.d = d;
    r.page = (size_t)sysconf(_SC_PAGESIZE);
    itemu_report &rep = r.rep;
    if (!k) {
        rep.ok = 0;
        snprintf(rep.msg, sizeof rep.msg, "itemu_run: no kernel");
        return finish(out, rep);
    }
    // Everything Metal's validation layer would reject before running.
    uint64_t nthreads = (uint64_t)d->tptg[0] * d->tptg[1] * d->tptg[2];
    if (nthreads == 0 || nthreads > 1024) {
        rep.ok = 0;
        snprintf(rep.msg, sizeof rep.msg, "%s: %llu threads per threadgroup (must be 1..1024)", k->name, (unsigned long long)nthreads);
        return finish(out, rep);
    }
    for (int i = 0; i < ITEMU_MAX_BIND; i++) {
        if (d->tg_len[i] % 16) {
            rep.ok = 0;
            snprintf(rep.msg, sizeof rep.msg, "%s: threadgroup memory length %zu at index %d is not a multiple of 16", k->name, d->tg_len[i], i);
            return finish(out, rep);
        }
        r.dyn_total += d->tg_len[i];
    }
    if (r.dyn_total > TG_LIMIT) {
        rep.ok = 0;
        snprintf(rep.msg, sizeof rep.msg, "%s: %zu bytes of threadgroup memory (limit 32 KiB)", k->name, r.dyn_total);
        return finish(out, rep);
    }
    for (int j = 0; j < k->nbinds; j++) {
        const itemu_binding &b = k->binds[j];
        const char *problem = nullptr;
        char tmp[160];
        if (b.kind == ITEMU_BIND_THREADGROUP) {
            if (!d->tg_len[b.index]) problem = "has no threadgroup memory length set";
        } else if (!d->buf[b.index]) {
            problem = "is not bound";
        } else if (b.kind == ITEMU_BIND_REFERENCE && d->buf_len[b.index] < b.elem_size) {
            snprintf(tmp, sizeof tmp, "is bound with %zu bytes but %s needs %zu", d->buf_len[b.index], b.type, b.elem_size);
            problem = tmp;
        }
        if (problem) {
            rep.ok = 0;
            snprintf(rep.msg, sizeof rep.msg, "%s: [[%s(%d)]] '%s' (%s:%d) %s", k->name,
                     b.kind == ITEMU_BIND_THREADGROUP ? "threadgroup" : "buffer", b.index, b.name, k->file, b.line, problem);
            return finish(out, rep);
        }
    }
    for (int i = 0; i < ITEMU_MAX_BIND; i++)
        if (d->tg_len[i]) r.dyn[i].assign(d->tg_len[i], 0);
    r.arena.assign(TG_LIMIT, 0);
    r.f.resize(nthreads);
    size_t per = r.o.stack_size + r.page;
    r.stacks_len = per * nthreads;
    r.stacks = (char *)mmap(nullptr, r.stacks_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r.stacks == MAP_FAILED) { fprintf(stderr, "itemu: cannot map fiber stacks\n"); abort(); }
    for (uint64_t i = 0; i < nthreads; i++) {
        mprotect(r.stacks + per * i, r.page, PROT_NONE); // guard page below each stack
        r.f[i].stack = r.stacks + per * i + r.page;
    }
    map_buffers(r);

    // fault handler on its own stack (a fiber's stack may be the thing that overflowed)
    static thread_local char *alt = nullptr;
    const size_t alt_len = 64 * 1024;
    if (!alt) alt = (char *)malloc(alt_len);
    stack_t ss, old_ss;
    ss.ss_sp = alt;
    ss.ss_size = alt_len;
    ss.ss_flags = 0;
    sigaltstack(&ss, &old_ss);
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);

    uint64_t total = (uint64_t)d->groups[0] * d->groups[1] * d->groups[2];
    std::vector<uint64_t> perm(total);
    for (uint64_t i = 0; i < total; i++) perm[i] = i;
    uint64_t s = (uint64_t)r.o.group_seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (uint64_t i = total; i > 1; i--) { // threadgroups in a shuffled order: no inter-group ordering
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        uint64_t j = (s * 0x2545F4914F6CDD1Dull >> 33) % i;
        std::swap(perm[i - 1], perm[j]);
    }
    Run *saved_r = R;
    R = &r;
    CUR = nullptr;
    Fiber *faulted = run_groups(r, perm.data(), total);
    if (faulted || r.faulted) {
        r.failed = true;
        r.msg = describe_fault(r) + (faulted ? where(faulted) : std::string());
    }
    R = saved_r;
    sigaction(SIGSEGV, &old_segv, nullptr);
    sigaction(SIGBUS, &old_bus, nullptr);
    sigaltstack(&old_ss, nullptr);
    unmap_buffers(r);
#ifdef ITEMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(r.stacks, r.stacks_len); // abandoned frames leave redzones behind
#endif
    munmap(r.stacks, r.stacks_len);
    if (r.failed) {
        rep.ok = 0;
        snprintf(rep.msg, sizeof rep.msg, "%s (%s:%d): %s", k->name, k->file, k->line, r.msg.c_str());
    }
    return finish(out, rep);
}
