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
    private var fd: Int32
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
        temporaryPath = "\(directory.isEmpty ? "/" : directory)/.\(base).partial-\(getpid())"
        interruptSlot = InterruptCleanup.register(temporaryPath)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            InterruptCleanup.unregister(interruptSlot)
            throw VGGError.io(path: directory.isEmpty ? "/" : directory, operation: "create the output file in this directory", errno: errno)
        }
    }

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
        guard close(fd) == 0 else {
            fd = -1
            throw VGGError.io(path: path, operation: "close the output", errno: errno)
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else { throw VGGError.io(path: path, operation: "move the finished output into place", errno: errno) }
        committed = true
    }
}
