#if canImport(Glibc)
import Glibc
#endif
import Foundation
import VGGCore

/// Keeps libhdf5 away from what it cannot read safely. libhdf5 1.10 parses a file's metadata trusting
/// it, and corrupt files crash it (a variable-length string attribute whose global-heap entry was
/// damaged, a byte-flipped object header). So every read that goes through libhdf5 runs first in a
/// forked child; only when the child finishes normally is the same read done here. A crash, hang or
/// runaway in the child becomes one clear error.
enum CrashIsolation {
    /// How long the probe may take: reads of metadata take milliseconds, but a compressed file is decoded
    /// in the probe too, so large files get longer (a second per 50 MB beyond the first 3 s).
    static func probeSeconds(fileBytes: Int) -> UInt32 { UInt32(clamping: 3 + max(fileBytes, 0) / (50 << 20)) }

    /// Runs `body` in a child process first (its result discarded), then here.
    /// - Throws: `HDF5Error` when the child did not exit normally; otherwise what `body` throws.
    static func probed<T>(_ path: String, _ body: () throws -> T) throws -> T {
        var info = stat()
        let size = stat(path, &info) == 0 ? Int(info.st_size) : 0
        // libhdf5's own allocations (metadata a damaged header makes it size) must stay within the file's
        // byte budget plus a working margin: a child that grew more is refused, so the read is never
        // repeated here. (A process-wide rlimit would also starve the host's other threads.)
        let memory = ByteBudget(fileBytes: size).limit + (256 << 20)
        guard survives(seconds: probeSeconds(fileBytes: size), memoryBytes: memory, { _ = try? body() }) else {
            throw HDF5Error(path: path, object: "", reason: "the HDF5 library crashed, hung or outgrew this file's memory budget reading it in an isolated probe: the file is corrupt or hostile; copy or download it again")
        }
        return try body()
    }

    /// True when `body`, run in a child process, returns within `seconds`; false when the child
    /// dies of a signal, hangs or exits otherwise. The child runs only `body` and `_exit`.
    static func survives(seconds: UInt32, memoryBytes: Int = .max, _ body: () -> Void) -> Bool {
        let baseline = residentBytes()
        let child = fork()
        if child == 0 {
            // A hang in the child ends it (SIGALRM, default action), never the parent; the parent's
            // cleanup handler must not run in the child, where it would delete the parent's temp files.
            // A crash ends it at once: no inherited crash reporter (the Swift runtime's backtracer, a
            // sanitizer's or fuzzer's handler) runs in the child.
            for number in [SIGALRM, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT] { _ = signal(number, SIG_DFL) }
            alarm(seconds)
            // The child's crash report (libhdf5's or the Swift runtime's) must not reach the user's
            // terminal: the parent prints the one-line error.
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, 1); dup2(null, 2) }
            body()
            // Peak resident memory beyond what the child started with: over the limit is a refusal.
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            _exit(usage.ru_maxrss * 1024 - baseline > memoryBytes ? 3 : 0)
        }
        guard child > 0 else { return false }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            guard errno == EINTR else { return false }
        }
        // WIFEXITED(status) && WEXITSTATUS(status) == 0
        return status & 0x7F == 0 && (status >> 8) & 0xFF == 0
    }

    /// This process's resident memory in bytes, from /proc/self/statm.
    private static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
