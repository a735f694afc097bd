#if canImport(Glibc)
import Glibc
#endif
import Foundation
import FileIO
import VGGCore

/// Keeps libhdf5 away from what it cannot read safely. libhdf5 1.10 parses a file's metadata trusting
/// it, and corrupt files crash it (a variable-length string attribute whose global-heap entry was
/// damaged, a byte-flipped object header) or quietly corrupt the heap of the process that reads them.
/// So every read that goes through libhdf5 runs only in a forked child, which sends its result back
/// through a pipe (`IsolatedRead`: plain data and file offsets, decoded bytes after them): libhdf5 never
/// runs on the file in this process. A crash, hang or runaway in the child becomes one clear error.
/// Observers of the child that runs libhdf5 (`CrashIsolation`), for the fuzz harness only: code the child
/// runs updates coverage counters in the child's own copy of memory, so the harness copies them out
/// before the child exits and merges them when it has ended; and a trap in vggconv's own code in the
/// child (which the user sees as a refused file) must still reach the fuzzer as a finding. Unset in
/// vggconv itself.
public enum IsolatedChildObservers {
    /// Runs in the child after the read, just before it exits.
    nonisolated(unsafe) public static var beforeExit: (@convention(c) () -> Void)?
    /// Runs in the parent once the child has ended, however it ended, with its `waitpid` status.
    nonisolated(unsafe) public static var afterEnd: (@convention(c) (Int32) -> Void)?
    /// Leaves the child's standard error open (a sanitizer's report of the child), instead of /dev/null.
    nonisolated(unsafe) public static var childKeepsStandardError = false
}

enum CrashIsolation {
    /// How long the child may take: reads of metadata take milliseconds, but a compressed file is decoded
    /// in the child too, so large files get longer (a second per 50 MB beyond the first 3 s).
    static func probeSeconds(fileBytes: Int) -> UInt32 { UInt32(clamping: 3 + max(fileBytes, 0) / (50 << 20)) }

    static let refusal = "the HDF5 library crashed, hung or outgrew this file's memory budget reading it in an isolated process: the file is corrupt or hostile; copy or download it again"

    /// Runs `body` in a child process and returns its result, carried over by `encode` and `decode`.
    /// - Throws: `HDF5Error` when the child did not finish normally; `KerasFormatError.reported` with the
    ///   child's error text when `body` threw.
    /// `fileBytes`: the size of what libhdf5 reads (nil: the size of the file at `path`, 0 when there is none).
    static func isolated<T>(_ path: String, fileBytes: Int? = nil, encode: (T) throws -> [UInt8], decode: ([UInt8]) throws -> T,
                            _ body: () throws -> T) throws -> T {
        var info = stat()
        let size = fileBytes ?? (stat(path, &info) == 0 ? Int(info.st_size) : 0)
        // libhdf5's own allocations (metadata a damaged header makes it size) must stay within the file's
        // byte budget plus a working margin: a child that grew more is refused.
        let budget = ByteBudget(fileBytes: size).limit
        var reply: [UInt8] = []
        let finished = run(seconds: probeSeconds(fileBytes: size), memoryBytes: budget + (256 << 20), replyLimit: budget + (64 << 20), reply: &reply) {
            do {
                return [0] + (try encode(try body()))
            } catch let error as KerasFormatError {
                // Typed, so the parent rethrows it with its cause (and remedy) intact.
                return [2] + ((try? JSONEncoder().encode(error)).map(Array.init) ?? Array("\(error)".utf8))
            } catch {
                return [1] + Array("\(error)".utf8)
            }
        }
        guard finished, let status = reply.first else { throw HDF5Error(path: path, object: "", reason: refusal) }
        let payload = Array(reply.dropFirst())
        if status == 2, let typed = try? JSONDecoder().decode(KerasFormatError.self, from: Data(payload)) { throw typed }
        guard status == 0 else { throw KerasFormatError.reported(String(decoding: payload, as: UTF8.self)) }
        return try decode(payload)
    }

    /// True when `body`, run in a child process, returns within `seconds` (its reply, at most
    /// `replyLimit` bytes, in `reply`); false when the child dies of a signal, hangs, outgrows
    /// `memoryBytes` or replies too much. The child runs only `body` and `_exit`.
    static func run(seconds: UInt32, memoryBytes: Int = .max, replyLimit: Int, reply: inout [UInt8], _ body: () -> [UInt8]) -> Bool {
        let memory = Self.memory()
        let baseline = memory?.resident ?? 0
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return false }
        let child = fork()
        if child == 0 {
            close(pipeEnds[0])
            // A hang in the child ends it (SIGALRM, default action), never the parent; the parent's
            // cleanup handler must not run in the child, where it would delete the parent's temp files.
            // A crash ends it at once: no inherited crash reporter (the Swift runtime's backtracer, a
            // sanitizer's or fuzzer's handler) runs in the child.
            for number in [SIGALRM, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE] { _ = signal(number, SIG_DFL) }
            alarm(seconds)
            capDataSegment(present: memory?.data, growth: memoryBytes)
            // The child's crash report (libhdf5's or the Swift runtime's) must not reach the user's
            // terminal: the parent prints the one-line error.
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, 1); if !IsolatedChildObservers.childKeepsStandardError { dup2(null, 2) } }
            let bytes = body()
            IsolatedChildObservers.beforeExit?()
            // Peak resident memory beyond what the child started with: over the limit is a refusal.
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            if usage.ru_maxrss * 1024 - baseline > memoryBytes { _exit(3) }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(pipeEnds[1], $0.baseAddress! + written, bytes.count - written) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { _exit(4) }
                written += n
            }
            _exit(0)
        }
        close(pipeEnds[1])
        defer { close(pipeEnds[0]) }
        guard child > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var overflow = false
        while true {
            let n = chunk.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if reply.count + n > replyLimit {
                overflow = true
                kill(child, SIGKILL)
                break
            }
            reply.append(contentsOf: chunk[0..<n])
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            guard errno == EINTR else { return false }
        }
        IsolatedChildObservers.afterEnd?(status)
        // WIFEXITED(status) && WEXITSTATUS(status) == 0
        return !overflow && status & 0x7F == 0 && (status >> 8) & 0xFF == 0
    }

    /// This process's resident memory and data segment (data and stack) in bytes, from /proc/self/statm.
    private static func memory() -> (resident: Int, data: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let pages = text.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard pages.count > 5, let resident = pages[1], let data = pages[5] else { return nil }
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        return (resident * size, data * size)
    }

    /// Caps this process's data segment (private writable memory: the heap, libhdf5's buffers) at its
    /// present size plus `growth`, so an allocation a damaged file makes libhdf5 size fails at once
    /// (libhdf5 then reports an error) instead of the child faulting in gigabytes until the alarm.
    private static func capDataSegment(present: Int?, growth: Int) {
        guard let present, growth < Int.max / 2 else { return }
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(clamping: present + growth)
        if limit.rlim_max < wanted { return }  // RLIM_INFINITY is rlim_t.max
        limit.rlim_cur = wanted
        _ = setrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &limit)
    }
}
