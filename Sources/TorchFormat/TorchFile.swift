import Foundation
import FileIO
import VGGCore

/// An opened PyTorch `torch.save` file (zip, or the pre-1.6 legacy stream): its unpickled object tree
/// and the storages tensors point into. Tensor bytes are materialised on request, in place when a
/// tensor is a contiguous run of a stored record.
public final class TorchFile {
    public let path: String
    /// `torch-zip` or `torch-legacy`.
    public let format: String
    let root: PickleValue
    /// The size of the pickle stream(s), which bounds how many values a walk of `root` may visit.
    let pickleBytes: Int
    /// Owns the containers of `root` and tears them down without recursion.
    private let arena = PickleArena()
    private let file: MappedFile
    private let bigEndian: Bool
    private var storages: [String: StorageBytes] = [:]
    private let archive: ZipArchive?
    private let recordPrefix: String
    private let recordChecks: RecordChecks

    /// When a storage record's CRC-32 is checked.
    public enum RecordChecks: Sendable {
        /// When a tensor's bytes are first asked for (a read pass over each record).
        case onRead
        /// A tensor that is exactly one whole stored record carries the record's checksum for its reader
        /// to check (`TensorData.pendingChecksum`): the conversion pipeline folds it into its one pass
        /// over the bytes. Other tensors are checked on read.
        case deferredToReader
        /// Never: metadata-only reads such as `summary`, which must not touch tensor data.
        case skip
    }
    /// What strided, byte-swapped and inflated copies of this file may allocate together.
    private let budget: ByteBudget

    private enum StorageBytes {
        /// A stored record, with its CRC-32 when that is still to be checked.
        case mapped(offset: Int, length: Int, pending: PendingChecksum?)
        case owned([UInt8])
    }

    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Opens and unpickles `path` (no tensor data is read).
    /// - Throws: `TorchFormatError` (refused globals, malformed pickles, unsupported containers) or
    ///   `VGGError` for unreadable files and broken zips.
    /// `recordChecks` says when the CRC-32 of storage records is checked (see `RecordChecks`).
    public convenience init(path: String, recordChecks: RecordChecks = .onRead) throws {
        try self.init(file: try MappedFile(path: path), recordChecks: recordChecks)
    }

    /// Unpickles `file` (a file mapped, or bytes in memory).
    public init(file: MappedFile, recordChecks: RecordChecks = .onRead) throws {
        self.path = file.path
        self.recordChecks = recordChecks
        self.file = file
        budget = ByteBudget(fileBytes: file.count)
        let prefix = file.bytes(offset: 0, length: 16)
        if ZipArchive.hasMagic(prefix) {
            let zip = try ZipArchive(file: file)
            archive = zip
            format = "torch-zip"
            guard let pickle = zip.entries.first(where: { $0.name.hasSuffix("data.pkl") && $0.name.split(separator: "/").count <= 2 }) else {
                throw TorchFormatError.notPyTorch(path: path, reason: "zip archive has no data.pkl record")
            }
            if zip.entries.contains(where: { $0.name.hasSuffix("constants.pkl") }) {
                throw TorchFormatError.unsupported(path: path, feature: .torchScript)
            }
            recordPrefix = String(pickle.name.dropLast("data.pkl".count))
            if let order = zip.entry(named: recordPrefix + "byteorder") {
                let text = try zip.data(of: order).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                bigEndian = text.trimmingCharacters(in: .whitespacesAndNewlines) == "big"
            } else {
                bigEndian = false
            }
            let pickleData = try zip.data(of: pickle)
            pickleBytes = pickleData.count
            try Self.verifyCRC(zip, pickle, data: pickleData, path: path)
            let path = self.path, arena = self.arena
            root = try pickleData.withUnsafeBytes { bytes in
                var unpickler = Unpickler(path: path, bytes: bytes, arena: arena) { id, offset in try Self.zipStorage(id, path: path, offset: offset) }
                return try unpickler.load()
            }
        } else if prefix.starts(with: [0x80, 0x02, 0x8A, 0x0A] + Self.legacyMagic) {
            archive = nil
            recordPrefix = ""
            format = "torch-legacy"
            pickleBytes = file.count
            bigEndian = false  // legacy storages are always written little-endian
            var found: [String: (dtype: DType?, count: Int, type: String)] = [:]
            var storageOffsets: [String: StorageBytes] = [:]
            let path = self.path, arena = self.arena
            root = try file.withBytes(offset: 0, length: file.count) { bytes in
                func next(_ offset: Int) throws -> (PickleValue, Int) {
                    var unpickler = Unpickler(path: path, bytes: bytes, offset: offset, arena: arena) { id, at in
                        let storage = try Self.legacyStorage(id, path: path, offset: at)
                        found[storage.key] = (storage.dtype, storage.count, storage.typeName)
                        return .storage(storage)
                    }
                    return (try unpickler.load(), unpickler.position)
                }
                let (_, afterMagic) = try next(0)
                let (version, afterVersion) = try next(afterMagic)
                guard case .int(1001) = version else {
                    throw TorchFormatError.unsupported(path: path, feature: .legacyProtocol(version: version.summary))
                }
                let (_, afterInfo) = try next(afterVersion)
                let (main, afterMain) = try next(afterInfo)
                let (keyList, afterKeys) = try next(afterMain)
                guard case .list(let keys) = keyList else {
                    throw TorchFormatError.malformedPickle(path: path, offset: afterMain, reason: "expected the list of storage keys")
                }
                var position = afterKeys
                for case .string(let key) in keys.items {
                    guard let info = found[key] else {
                        throw TorchFormatError.malformedPickle(path: path, offset: position, reason: "storage '\(key)' is listed but no tensor uses it")
                    }
                    guard position + 8 <= bytes.count else {
                        throw TorchFormatError.badTensor(path: path, name: "storage \(key)", reason: "file ends before the storage's length (truncated)")
                    }
                    var count: UInt64 = 0
                    for i in (0..<8).reversed() { count = count << 8 | UInt64(bytes[position + i]) }
                    position += 8
                    let itemSize = info.dtype?.byteSize ?? 1
                    guard count <= UInt64(bytes.count), case let (length, false) = Int(count).multipliedReportingOverflow(by: itemSize),
                          length <= bytes.count - position else {
                        throw TorchFormatError.badTensor(path: path, name: "storage \(key)", reason: "\(count) elements run past the end of the file (truncated)")
                    }
                    storageOffsets[key] = .mapped(offset: position, length: length, pending: nil)
                    position += length
                }
                return main
            }
            storages = storageOffsets
        } else if file.count > 262, file.bytes(offset: 257, length: 5) == Array("ustar".utf8) {
            throw TorchFormatError.unsupported(path: path, feature: .tarArchive)
        } else {
            throw TorchFormatError.notPyTorch(path: path, reason: "neither a torch.save zip archive nor a legacy PyTorch stream")
        }
    }

    // MARK: persistent ids

    private static func storageParts(_ id: PickleValue, path: String, offset: Int) throws -> [PickleValue] {
        guard case .tuple(let parts) = id, parts.count >= 5, case .string("storage") = parts[0] else {
            throw TorchFormatError.malformedPickle(path: path, offset: offset, reason: "persistent id \(id.summary) is not a ('storage', …) tuple")
        }
        return parts
    }

    private static func makeStorage(_ parts: [PickleValue], key: PickleValue, viewOffset: Int, path: String, offset: Int) throws -> StorageReference {
        guard case .global(_, let typeName) = parts[1] else {
            throw TorchFormatError.malformedPickle(path: path, offset: offset, reason: "storage type is a \(parts[1].kind)")
        }
        guard let dtype = TorchGlobals.storageTypes[typeName] else {
            throw TorchFormatError.unsupported(path: path, feature: .storageType(typeName))
        }
        let keyText: String
        switch key {
        case .string(let s): keyText = s
        case .int(let i): keyText = String(i)
        default: throw TorchFormatError.malformedPickle(path: path, offset: offset, reason: "storage key is a \(key.kind)")
        }
        guard case .int(let count) = parts[4], count >= 0 else {
            throw TorchFormatError.malformedPickle(path: path, offset: offset, reason: "storage size is not a non-negative int")
        }
        return StorageReference(key: keyText, dtype: dtype, typeName: typeName, count: count, viewOffset: viewOffset)
    }

    private static func zipStorage(_ id: PickleValue, path: String, offset: Int) throws -> PickleValue {
        let parts = try storageParts(id, path: path, offset: offset)
        return .storage(try makeStorage(parts, key: parts[2], viewOffset: 0, path: path, offset: offset))
    }

    private static func legacyStorage(_ id: PickleValue, path: String, offset: Int) throws -> StorageReference {
        let parts = try storageParts(id, path: path, offset: offset)
        var viewOffset = 0
        if parts.count >= 6, case .tuple(let view) = parts[5], view.count == 3, case .int(let start) = view[1] {
            viewOffset = start
        }
        return try makeStorage(parts, key: parts[2], viewOffset: viewOffset, path: path, offset: offset)
    }

    private static func verifyCRC(_ zip: ZipArchive, _ entry: ZipArchive.Entry, data: TensorData, path: String) throws {
        let actual = data.withUnsafeBytes { CRC32.of($0) }
        // Read again only when the tensor is used: no whole model resident just for the check.
        data.releasePages()
        // torch.serialization.set_crc32_options(False) writes 0: nothing to check then.
        guard actual == entry.crc32 || entry.crc32 == 0 else {
            throw VGGError.badZip(path: path, problem: .checksum(entry: entry.name, recorded: entry.crc32, actual: actual))
        }
    }

    // MARK: tensors

    private func storageBytes(_ storage: StorageReference, name: String) throws -> StorageBytes {
        if let known = storages[storage.key] { return known }
        guard let archive else {
            throw TorchFormatError.badTensor(path: path, name: name, reason: "storage '\(storage.key)' is not in the file")
        }
        guard let entry = archive.entry(named: "\(recordPrefix)data/\(storage.key)") else {
            throw TorchFormatError.badTensor(path: path, name: name, reason: "record data/\(storage.key) is missing from the archive")
        }
        let data = try archive.data(of: entry)
        let deferred = recordChecks == .deferredToReader && entry.method == 0 && entry.crc32 != 0
        if recordChecks == .onRead || (recordChecks == .deferredToReader && !deferred) {
            try Self.verifyCRC(archive, entry, data: data, path: path)
        }
        if entry.method != 0 { try budget.spend(data.count, for: "inflated record '\(SafeText.quote(entry.name))'", in: path) }
        let pending = deferred ? PendingChecksum(crc32: entry.crc32, path: path, record: entry.name) : nil
        let bytes: StorageBytes = entry.method == 0 ? .mapped(offset: entry.dataOffset, length: entry.compressedSize, pending: pending)
            : .owned(data.withUnsafeBytes { Array($0) })
        storages[storage.key] = bytes
        return bytes
    }

    /// Checks a deferred record now (a tensor that is only part of it, or a copy of it, is being made)
    /// and remembers that it passed.
    private func checkNow(_ storage: StorageReference, _ bytes: StorageBytes) throws -> StorageBytes {
        guard case .mapped(let offset, let length, let pending?) = bytes else { return bytes }
        try pending.check(file.withBytes(offset: offset, length: length) { CRC32.of($0) })
        file.release(offset: offset, length: length)
        let checked = StorageBytes.mapped(offset: offset, length: length, pending: nil)
        storages[storage.key] = checked
        return checked
    }

    /// The tensor's bytes in C order and little-endian, after checking its shape, stride and offset
    /// against the storage it points into.
    func materialize(_ tensor: TensorReference, name: String) throws -> SourceTensor {
        func bad(_ why: String) -> TorchFormatError { .badTensor(path: path, name: name, reason: why) }
        let itemSize = tensor.dtype.byteSize
        guard let count = ShapeMath.elementCount(tensor.shape), let nbytes = ShapeMath.byteCount(tensor.shape, dtype: tensor.dtype) else {
            throw bad("shape \(tensor.shape) is negative or overflows")
        }
        guard tensor.offset >= 0, tensor.stride.allSatisfy({ $0 >= 0 }) else { throw bad("negative offset or stride") }
        let layout = tensor.shape.isEmpty ? TensorLayout.scalar : .unknown
        if count == 0 {
            return SourceTensor(sourceName: name, dtype: tensor.dtype, shape: tensor.shape, layout: layout, data: TensorData(bytes: []), fileOffset: nil)
        }
        var lastIndex = tensor.offset
        for (size, stride) in zip(tensor.shape, tensor.stride) {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = lastIndex.addingReportingOverflow(step)
            guard !o1, !o2 else { throw bad("shape \(tensor.shape) with stride \(tensor.stride) overflows") }
            lastIndex = sum
        }
        var storageBytes = try storageBytes(tensor.storage, name: name)
        let available: Int
        switch storageBytes {
        case .mapped(_, let length, _): available = length
        case .owned(let bytes): available = bytes.count
        }
        let (afterLast, o3) = lastIndex.addingReportingOverflow(1)
        let (end, o4) = afterLast.multipliedReportingOverflow(by: itemSize)
        guard !o3, !o4 else { throw bad("offset \(tensor.offset) with shape \(tensor.shape) and stride \(tensor.stride) overflows") }
        guard end <= available else {
            throw bad("needs \(end) bytes of its storage but the stored record has only \(available) (storage shorter than the tensor claims)")
        }
        var contiguous = true, expected = 1
        for (size, stride) in zip(tensor.shape, tensor.stride).reversed() where size != 1 {
            if stride != expected { contiguous = false }
            expected *= size
        }
        let start = tensor.offset * itemSize
        if contiguous, !bigEndian || itemSize == 1, case .mapped(let base, let length, let pending) = storageBytes,
           pending == nil || (start == 0 && nbytes == length) {
            return SourceTensor(sourceName: name, dtype: tensor.dtype, shape: tensor.shape, layout: layout,
                                data: TensorData(file: file, offset: base + start, count: nbytes, pendingChecksum: pending),
                                fileOffset: base + start)
        }
        storageBytes = try checkNow(tensor.storage, storageBytes)
        // A strided view may repeat elements (stride 0): every copy is paid from the file's budget, so
        // many views of one small storage cannot add up to gigabytes.
        try budget.spend(nbytes, for: "materialising tensor '\(SafeText.quote(name))' (a strided, byte-swapped or compressed record)", in: path)
        var out = [UInt8](repeating: 0, count: nbytes)
        let copy = { (storage: UnsafeRawBufferPointer) in
            out.withUnsafeMutableBytes { dst in
                StridedCopy.gather(from: storage, offset: tensor.offset, shape: tensor.shape, stride: tensor.stride,
                                   itemSize: itemSize, swapBytes: self.bigEndian, into: dst)
            }
        }
        switch storageBytes {
        case .mapped(let base, let length, _): file.withBytes(offset: base, length: length, copy)
        case .owned(let bytes): bytes.withUnsafeBytes(copy)
        }
        return SourceTensor(sourceName: name, dtype: tensor.dtype, shape: tensor.shape, layout: layout,
                            data: TensorData(bytes: out), fileOffset: nil)
    }
}

/// Copies a strided view into C order, optionally reversing each element's bytes.
enum StridedCopy {
    static func gather(from storage: UnsafeRawBufferPointer, offset: Int, shape: [Int], stride: [Int], itemSize: Int,
                       swapBytes: Bool, into destination: UnsafeMutableRawBufferPointer) {
        var index = [Int](repeating: 0, count: shape.count)
        var source = offset
        var out = 0
        let total = destination.count / itemSize
        for _ in 0..<total {
            for b in 0..<itemSize {
                destination[out * itemSize + b] = storage[source * itemSize + (swapBytes ? itemSize - 1 - b : b)]
            }
            out += 1
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                source += stride[axis]
                if index[axis] < shape[axis] { break }
                source -= stride[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
