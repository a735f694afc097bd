import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Pages are loaded on demand, so mapping a 500 MB file costs
/// nothing until its bytes are read. The mapping is released when the last reference goes away.
/// `init(bytes:name:)` holds bytes already in memory the same way, so every reader that takes a
/// `MappedFile` reads a buffer as it reads a file (a fuzz harness, an app with downloaded bytes).
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from, for error messages.
    public let path: String
    /// The file's length in bytes when it was mapped.
    public let count: Int
    private let base: UnsafeRawPointer?
    /// Kept open for `read`: streaming a range through a small buffer with `pread` costs one copy, where
    /// touching the mapping costs a page fault per few pages (measured: a third more time for a 553 MB copy).
    /// -1 for bytes held in memory.
    private let descriptor: Int32

    /// Holds a copy of `bytes` in private anonymous memory; `name` stands for the path in messages.
    public init(bytes: [UInt8], name: String) {
        path = name
        count = bytes.count
        descriptor = -1
        guard !bytes.isEmpty else {
            base = nil
            return
        }
        let memory = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(memory != MAP_FAILED && memory != nil, "out of memory holding \(bytes.count) bytes")
        bytes.withUnsafeBytes { memory!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        mprotect(memory, bytes.count, PROT_READ)
        base = UnsafeRawPointer(memory)
    }

    /// Maps `path` read-only.
    /// - Throws: `VGGError.fileNotFound`, `.notAFile` or `.io` naming the failing call.
    public init(path: String, role: InputRole = .file) throws {
        self.path = path
        // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever; regular
        // files read the same either way, and anything else is refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { throw VGGError.fileNotFound(path: path, expected: role.phrase) }
            throw VGGError.io(path: path, operation: "open it", errno: errno)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            defer { close(fd) }
            throw VGGError.io(path: path, operation: "read its size (fstat)", errno: errno)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw VGGError.notAFile(path: path, kind: OutputFile.describe(info.st_mode & S_IFMT), expected: role.phrase)
        }
        descriptor = fd
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            defer { close(fd) }
            throw VGGError.io(path: path, operation: "map it into memory (mmap)", errno: errno)
        }
        base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
        if descriptor >= 0 { close(descriptor) }
    }

    /// Copies bytes `offset..<offset+buffer.count` (which must lie inside the file) into `buffer` with
    /// `pread`, without touching the mapping.
    /// - Throws: `VGGError.io` when the read fails or the file has shrunk since it was mapped.
    public func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(contains(offset: offset, length: buffer.count), "range checked by caller")
        if descriptor < 0 {
            if let base, buffer.count > 0 { buffer.baseAddress!.copyMemory(from: base + offset, byteCount: buffer.count) }
            return
        }
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw VGGError.io(path: path, operation: "read it", errno: errno) }
            if n == 0 { throw VGGError.io(path: path, operation: "read it (the file shrank while vggconv was reading it)", errno: EIO) }
            done += n
        }
    }

    /// True when `offset..<offset+length` lies inside the file (overflow-checked).
    public func contains(offset: Int, length: Int) -> Bool {
        guard offset >= 0, length >= 0 else { return false }
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= count
    }

    /// Calls `body` with the bytes `offset..<offset+length`, which must lie inside the file.
    /// - warning: Do not let the buffer escape the closure.
    public func withBytes<R>(offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(contains(offset: offset, length: length), "range checked by caller")
        guard let base, length > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + offset, count: length))
    }

    /// Copies up to `length` bytes from `offset` (fewer at the end of the file).
    public func bytes(offset: Int, length: Int) -> [UInt8] {
        guard offset >= 0, offset < count else { return [] }
        let available = min(length, count - offset)
        return withBytes(offset: offset, length: available) { Array($0) }
    }

    /// The whole file as `Data` (for small files such as JSON configs).
    public func contents() -> Data { withBytes(offset: 0, length: count) { Data($0) } }

    /// Maps every page of a range in one call (`MADV_POPULATE_READ`, Linux 5.14+; ignored elsewhere), for
    /// a range about to be read out of order: one page-table walk in the kernel instead of a fault per
    /// few pages (measured: a fifth of the time of faulting a 411 MB transpose's source in).
    public func populate(offset: Int, length: Int) {
        #if os(Linux)
        advise(offset: offset, length: length, 22)  // MADV_POPULATE_READ
        #endif
    }

    /// Tells the kernel that this process no longer needs the pages of a range, so they leave its
    /// resident set (the page cache keeps them). Used to bound peak memory while streaming. Bytes held in
    /// memory have no page cache behind them (dropping their pages would zero them): kept.
    public func release(offset: Int, length: Int) {
        guard descriptor >= 0 else { return }
        advise(offset: offset, length: length, MADV_DONTNEED)
    }

    /// `madvise(advice)` over the pages that hold `offset..<offset+length` (a range inside the file).
    private func advise(offset: Int, length: Int, _ advice: Int32) {
        guard let base, contains(offset: offset, length: length), length > 0 else { return }
        let start = offset / Self.pageSize * Self.pageSize
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), offset + length - start, advice)
    }

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// What a path given to vggconv should name, for messages about one that does not.
public enum InputRole: Sendable {
    case file, model, image, labels, config, array, shard, externalData

    /// "a model file (…)", "an image (…)", … completing "pass the path of …".
    public var phrase: String {
        switch self {
        case .file: return "a regular file"
        case .model: return "a model file (.h5, .keras, .weights.h5, .weights.json, .pth, .pt, .safetensors, .onnx or .vggw) or a Keras model folder"
        case .image: return "an image file (.jpg, .jpeg or .png)"
        case .labels: return "a labels file (one class name per line)"
        case .config: return "a Keras model config (the JSON of model.to_json() or a .keras archive's config.json)"
        case .array: return "a NumPy array file (.npy or .npz)"
        case .shard: return "a shard that the sharded weights index names"
        case .externalData: return "the external data file that the ONNX model names, in the model's folder"
        }
    }
}
