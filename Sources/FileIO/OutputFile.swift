#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CFileRename

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
    /// `/dev/null` or `/proc/self/fd/1` is refused too), or that exists (a dangling link included) when
    /// `overwrite` is not set.
    /// - Throws: `VGGError.outputNotRegular` or `.outputExists`.
    public static func checkDestination(_ path: String, overwrite: Bool) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            // Nothing there, or a dangling link: the rename replaces the link itself, so no file is lost,
            // but it is still a name the user did not ask to replace.
            if !overwrite, lstat(path, &info) == 0 { throw VGGError.outputExists(path: path) }
            return
        }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else { throw VGGError.outputNotRegular(path: path, kind: describe(type)) }
        if !overwrite { throw VGGError.outputExists(path: path) }
    }

    /// Bytes an unprivileged writer may still use on the filesystem holding `path` (or its directory,
    /// when `path` does not exist); nil when unknown.
    public static func freeBytes(near path: String) -> Int? {
        var info = statvfs()
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        guard statvfs(path, &info) == 0 || statvfs(directory, &info) == 0 else { return nil }
        return Int(clamping: UInt64(info.f_bavail) &* UInt64(info.f_frsize))
    }

    /// "a directory", "a character device", … for messages.
    public static func describe(_ type: mode_t) -> String {
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

    /// Closes the file and renames it to its destination; inside `OutputCommit.together`, the rename
    /// waits for the group's other outputs.
    /// - Throws: `VGGError.outputExists` or `.outputNotRegular` when the destination changed since the
    ///   start; `.io` when the file cannot be closed or moved.
    public func commit() throws {
        OutputFile.pauseForTests(temporaryPath)
        // Created private (0600) so nobody reads a half-written file; the finished file gets the usual mode.
        fchmod(fd, 0o666 & ~OutputFile.processUmask)
        guard close(fd) == 0 else {
            fd = -1
            throw VGGError.io(path: path, operation: "close the output", errno: errno)
        }
        fd = -1
        if let group = OutputCommit.current {
            group.add(self)
        } else {
            try OutputCommit.place([self])
        }
    }

    /// How a finished file took its destination's name.
    enum Placement {
        /// The name was free.
        case created
        /// The name held a regular file, which now lies at `temporaryPath` until `finishPlacement`.
        case exchanged
    }

    /// Moves the finished file to `path`, deciding at the rename: with `overwrite` unset it takes the name
    /// only if nothing holds it (RENAME_NOREPLACE); with it set, the names are swapped (RENAME_EXCHANGE)
    /// and what was displaced is checked to be a regular file (or a link that is dangling or leads to
    /// one), else swapped back and refused. The displaced file is kept until `finishPlacement`, so a
    /// group can undo a placement. Filesystems without renameat2 flags fall back to a check and `rename`.
    func place() throws -> Placement {
        for _ in 0..<4 {
            if overwrite {
                if vgg_rename_exchange(temporaryPath, path) == 0 {
                    var displaced = stat()
                    let type = stat(temporaryPath, &displaced) == 0 ? displaced.st_mode & S_IFMT : S_IFREG
                    if type == S_IFREG { return .exchanged }
                    vgg_rename_exchange(temporaryPath, path)
                    throw VGGError.outputNotRegular(path: path, kind: Self.describe(type))
                }
                if errno != ENOENT { break }  // unsupported here (EINVAL, ENOSYS, …): the fallback below
            }
            if vgg_rename_noreplace(temporaryPath, path) == 0 { return .created }
            let failure = errno
            if failure == EEXIST {
                if overwrite { continue }  // appeared since the exchange was tried: try it again
                try Self.checkDestination(path, overwrite: false)
                throw VGGError.outputExists(path: path)
            }
            if failure == EINVAL || failure == ENOSYS || failure == EOPNOTSUPP { break }
            throw VGGError.io(path: path, operation: "move the finished output into place", errno: failure)
        }
        try Self.checkDestination(path, overwrite: overwrite)
        guard rename(temporaryPath, path) == 0 else {
            throw VGGError.io(path: path, operation: "move the finished output into place", errno: errno)
        }
        return .created
    }

    /// Undoes `place` (a later output of the same group failed): the displaced file gets its name back,
    /// or the new one is removed.
    func undoPlacement(_ placement: Placement) {
        switch placement {
        case .exchanged: vgg_rename_exchange(temporaryPath, path)
        case .created: if rename(path, temporaryPath) != 0 { unlink(path) }
        }
    }

    /// Ends a successful placement: the displaced file, if any, is deleted and nothing is left to clean up.
    func finishPlacement(_ placement: Placement) {
        if case .exchanged = placement { unlink(temporaryPath) }
        committed = true
        InterruptCleanup.unregister(interruptSlot)
        interruptSlot = nil
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

/// The outputs of one command, renamed into place together at the end of `together`'s body: all of
/// them, or none (a failed rename undoes the ones before it, and the files they displaced are restored).
public final class OutputCommit: @unchecked Sendable {
    @TaskLocal static var current: OutputCommit?
    private var pending: [OutputFile] = []

    /// Runs `body`; every `OutputFile` committed inside it is renamed into place only after `body`
    /// returns, all together. Nested calls join the outermost group.
    /// - Throws: `body`'s error (nothing is placed), or the first placement's error (nothing stays placed).
    public static func together<T>(_ body: () throws -> T) throws -> T {
        if current != nil { return try body() }
        let group = OutputCommit()
        let value = try $current.withValue(group) { try body() }
        try place(group.pending)
        return value
    }

    /// Runs `body` outside any group: its outputs are placed as soon as they are committed (a private
    /// temporary file the caller reads at once).
    public static func alone<T>(_ body: () throws -> T) rethrows -> T {
        try $current.withValue(nil) { try body() }
    }

    func add(_ file: OutputFile) { pending.append(file) }

    /// Places every file, undoing the earlier placements when one fails.
    static func place(_ files: [OutputFile]) throws {
        var placed: [(OutputFile, OutputFile.Placement)] = []
        do {
            for file in files { placed.append((file, try file.place())) }
        } catch {
            for (file, placement) in placed.reversed() { file.undoPlacement(placement) }
            throw error
        }
        for (file, placement) in placed { file.finishPlacement(placement) }
    }
}
