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
    private let overwrite: Bool

    /// Creates the temporary file. Refuses an existing `path` unless `overwrite` is set.
    /// - Throws: `VGGError.outputExists`, or `.io` when the directory is not writable.
    public init(path: String, overwrite: Bool) throws {
        self.path = path
        self.overwrite = overwrite
        try Self.checkDestination(path, overwrite: overwrite)
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

    /// Refuses a destination that exists and is not a regular file (followed through links: a link to
    /// `/dev/null` or `/proc/self/fd/1` is refused too), or that exists when `overwrite` is not set.
    /// - Throws: `VGGError.outputNotRegular` or `.outputExists`.
    public static func checkDestination(_ path: String, overwrite: Bool) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            // A dangling link would be replaced by the rename: allowed, as no file is lost.
            return
        }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else { throw VGGError.outputNotRegular(path: path, kind: describe(type)) }
        if !overwrite { throw VGGError.outputExists(path: path) }
    }

    /// "a directory", "a character device", … for messages.
    static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
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
        // Checked again at the rename: what appeared at the destination since the start is not replaced
        // unless it is a regular file the user allowed to overwrite.
        try Self.checkDestination(path, overwrite: overwrite)
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
