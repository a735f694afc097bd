#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An output written to a temporary file beside its destination and renamed into place only when
/// complete, so a failure never leaves a partial file and an existing file is replaced atomically.
public final class OutputFile {
    public let path: String
    private let temporaryPath: String
    /// The temporary file's path, for a library that must open the file by name (libhdf5) to write
    /// into it before `commit`. Never a path to report to the user.
    public var workingPath: String { temporaryPath }
    private var fd: Int32 = -1
    private var committed = false
    private var interruptSlot: Int?

    /// Creates the temporary file. Refuses an existing `path` unless `overwrite` is set.
    /// - Throws: `VGGError.outputExists`, or `.io` when the directory is not writable.
    public init(path: String, overwrite: Bool) throws {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw VGGError.notAFile(path: path) }
            if !overwrite { throw VGGError.outputExists(path: path) }
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let folder = directory.isEmpty ? "/" : directory
        // A fresh name each try, created exclusively and never through a symlink: a file or link planted
        // under the temporary name cannot redirect the write (O_EXCL | O_NOFOLLOW).
        var created: (path: String, fd: Int32)?
        var failure: Int32 = 0
        for _ in 0..<16 {
            let candidate = "\(folder)/.\(base).partial-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            let slot = InterruptCleanup.register(candidate)
            let descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if descriptor >= 0 {
                created = (candidate, descriptor)
                interruptSlot = slot
                break
            }
            failure = errno
            InterruptCleanup.unregister(slot)
            if failure != EEXIST && failure != ELOOP { break }
        }
        guard let created else {
            throw VGGError.io(path: folder, operation: "create the output file in this directory", errno: failure)
        }
        temporaryPath = created.path
        fd = created.fd
    }

    /// The process's file-creation mask (read once; `umask` can only be read by setting it).
    private static let processUmask: mode_t = {
        let mask = umask(0o022)
        umask(mask)
        return mask
    }()

    deinit {
        if !committed {
            if fd >= 0 { close(fd) }
            unlink(temporaryPath)
        }
        InterruptCleanup.unregister(interruptSlot)
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw VGGError.io(path: path, operation: "write the output", errno: errno)
            }
            done += n
        }
    }

    /// Closes the file and renames it to its destination.
    public func commit() throws {
        OutputFile.pauseForTests(temporaryPath)
        // Created private (0600) so nobody reads a half-written file; the finished file gets the usual mode.
        fchmod(fd, 0o666 & ~OutputFile.processUmask)
        guard close(fd) == 0 else {
            fd = -1
            throw VGGError.io(path: path, operation: "close the output", errno: errno)
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else { throw VGGError.io(path: path, operation: "move the finished output into place", errno: errno) }
        committed = true
    }

    /// Test hook: with `VGGCONV_TEST_PAUSE_BEFORE_RENAME=SECONDS` set, prints the temporary path on
    /// stderr and sleeps before the rename, so tests can signal a process that holds a partial file.
    private static func pauseForTests(_ temporaryPath: String) {
        guard let value = getenv("VGGCONV_TEST_PAUSE_BEFORE_RENAME"), let seconds = UInt32(String(cString: value)) else { return }
        let line = Array("paused before rename: \(temporaryPath)\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        sleep(min(seconds, 60))
    }
}
