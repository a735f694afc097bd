import Foundation
import FileIO
import VGGCore

/// Writes a conversion plan as the file `torch.save(model.state_dict())` writes: a stored zip (FB-padded,
/// 64-byte aligned records with data descriptors; `ZipLayout`) holding a protocol-2 `data.pkl` of an
/// OrderedDict of `_rebuild_tensor_v2` calls, one `data/<k>` record per tensor, `byteorder`, `version`.
/// Loads with `torch.load(path, weights_only=True)` (and `mmap=True`). Facts: docs/exports.md (the `.pth` row).
public enum PthWriter {
    /// What was written.
    public struct Result: Sendable {
        public var layout: TorchModuleLayout
        public var tensorCount: Int
        public var bytes: Int
    }

    /// Writes `plan` to `path` (temporary file, renamed when complete).
    /// - Throws: `VGGError` for unwritable outputs and layers PyTorch's modules cannot reproduce.
    /// `layout` is `TorchModuleLayout.of(plan.architecture)` when the caller has it already.
    public static func write(_ plan: ConversionPlan, to path: String, overwrite: Bool, layout known: TorchModuleLayout? = nil,
                             progress: WriteProgress? = nil) throws -> Result {
        let layout = try known ?? TorchModuleLayout.of(plan.architecture)
        // Storage keys "0", "1", … in state_dict order; a record per storage.
        let records = try layout.records(plan)
        let folder = archiveFolder(for: path)
        let pickle = try statePickle(records.map { ($0.key, $0.dtype, $0.shape) })
        let small: [(String, [UInt8])] = [(".format_version", Array("1".utf8)), (".storage_alignment", Array("64".utf8)),
                                          ("byteorder", Array("little".utf8))]
        var members: [(name: String, size: Int)] = [("\(folder)/data.pkl", pickle.count)]
        members += small.map { ("\(folder)/\($0.0)", $0.1.count) }
        members += records.enumerated().map { ("\(folder)/data/\($0.offset)", ShapeMath.byteCount($0.element.shape, dtype: $0.element.dtype) ?? 0) }
        members.append(("\(folder)/version", 2))
        let archive = try ZipLayout(members)

        let output = try OutputFile(path: path, overwrite: overwrite)
        var crcs = [UInt32](repeating: 0, count: members.count)
        func put(_ index: Int, _ bytes: [UInt8]) throws {
            crcs[index] = bytes.withUnsafeBytes { CRC32.of($0) }
            try bytes.withUnsafeBytes { try output.write($0, at: archive.members[index].payloadOffset) }
        }
        try put(0, pickle)
        for (offset, member) in small.enumerated() { try put(1 + offset, member.1) }
        let first = 1 + small.count
        let planned = records.enumerated().compactMap { index, record in record.source.map { (first + index, $0) } }
        let streamed = try TensorStreamer.write(planned.map(\.1), at: planned.map { archive.members[$0.0].payloadOffset }, to: output,
                                                progress: progress)
        for ((index, _), crc) in zip(planned, streamed) { crcs[index] = crc }
        for (index, record) in records.enumerated() where record.source == nil { try put(first + index, record.bytes) }
        try put(members.count - 1, Array("3\n".utf8))
        for index in members.indices {
            try archive.localHeader(index).withUnsafeBytes { try output.write($0, at: archive.members[index].headerOffset) }
            let end = archive.members[index].payloadOffset + archive.members[index].size
            try archive.descriptor(index, crc: crcs[index]).withUnsafeBytes { try output.write($0, at: end) }
        }
        let directory = archive.directory(crcs: crcs)
        try directory.withUnsafeBytes { try output.write($0, at: archive.directoryOffset) }
        try output.commit()
        return Result(layout: layout, tensorCount: records.count, bytes: archive.directoryOffset + directory.count)
    }

    /// torch names the archive folder after the file; anything outside [A-Za-z0-9_] becomes `_`.
    static func archiveFolder(for path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? "archive"
        let stem = base.split(separator: ".").first.map(String.init) ?? "archive"
        let cleaned = String(stem.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") ? Character($0) : "_" })
        return cleaned.isEmpty ? "archive" : String(cleaned.prefix(64))
    }

    /// The protocol-2 pickle of `OrderedDict([(key, _rebuild_tensor_v2(storage, 0, size, stride, False,
    /// OrderedDict())), …])`, using only opcodes and globals torch's weights_only unpickler accepts.
    static func statePickle(_ entries: [(key: String, dtype: DType, shape: [Int])]) throws -> [UInt8] {
        var p = PickleWriter()
        p.proto2()
        p.global("collections", "OrderedDict")
        p.emptyTuple()
        p.reduce()
        p.mark()
        for (index, entry) in entries.enumerated() {
            guard let storage = storageType[entry.dtype], let numel = ShapeMath.elementCount(entry.shape) else {
                throw VGGError.unsupportedDType(tensor: entry.key, dtype: entry.dtype.rawValue, reason: "has no PyTorch storage type")
            }
            p.unicode(entry.key)
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.mark()
            p.mark()
            p.unicode("storage")
            p.global("torch", storage)
            p.unicode(String(index))
            p.unicode("cpu")
            p.int(numel)
            p.tuple()
            p.binpersid()
            p.int(0)
            p.intTuple(entry.shape)
            p.intTuple(contiguousStrides(entry.shape))
            p.newFalse()
            p.global("collections", "OrderedDict")
            p.emptyTuple()
            p.reduce()
            p.tuple()
            p.reduce()
        }
        p.setItems()
        p.stop()
        return p.bytes
    }

    static let storageType: [DType: String] = Dictionary(uniqueKeysWithValues: TorchGlobals.typedStorages.map { ($0.dtype, $0.name) })

    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in shape.indices.reversed() {
            strides[axis] = step
            step *= max(shape[axis], 1)
        }
        return strides
    }
}

/// Emits the pickle opcodes PthWriter needs (CPython's Lib/pickletools.py names), nothing else.
struct PickleWriter {
    private(set) var bytes: [UInt8] = []

    mutating func proto2() { bytes += [0x80, 0x02] }
    mutating func mark() { bytes.append(Opcode.mark.rawValue) }
    mutating func emptyTuple() { bytes.append(Opcode.emptyTuple.rawValue) }
    mutating func tuple() { bytes.append(Opcode.tuple.rawValue) }
    mutating func reduce() { bytes.append(Opcode.reduce.rawValue) }
    mutating func binpersid() { bytes.append(Opcode.binpersid.rawValue) }
    mutating func newFalse() { bytes.append(Opcode.newfalse.rawValue) }
    mutating func setItems() { bytes.append(Opcode.setitems.rawValue) }
    mutating func stop() { bytes.append(Opcode.stop.rawValue) }

    mutating func global(_ module: String, _ name: String) {
        bytes.append(Opcode.global.rawValue)
        bytes += Array("\(module)\n\(name)\n".utf8)
    }

    mutating func unicode(_ text: String) {
        let utf8 = Array(text.utf8)
        bytes.append(Opcode.binunicode.rawValue)
        bytes.appendLittle(UInt32(utf8.count))
        bytes += utf8
    }

    /// BININT1, BININT2, BININT or LONG1, the smallest that holds `value`.
    mutating func int(_ value: Int) {
        if (0..<256).contains(value) {
            bytes += [Opcode.binint1.rawValue, UInt8(value)]
        } else if (0..<65_536).contains(value) {
            bytes.append(Opcode.binint2.rawValue)
            bytes.appendLittle(UInt16(value))
        } else if let small = Int32(exactly: value) {
            bytes.append(Opcode.binint.rawValue)
            bytes.appendLittle(small)
        } else {
            bytes += [Opcode.long1.rawValue, 8]
            bytes.appendLittle(Int64(value))
        }
    }

    /// A tuple of ints: EMPTY_TUPLE, TUPLE1–3, or MARK … TUPLE, as CPython pickles it.
    mutating func intTuple(_ values: [Int]) {
        if values.isEmpty { return emptyTuple() }
        if values.count > 3 { mark() }
        for value in values { int(value) }
        switch values.count {
        case 1: bytes.append(Opcode.tuple1.rawValue)
        case 2: bytes.append(Opcode.tuple2.rawValue)
        case 3: bytes.append(Opcode.tuple3.rawValue)
        default: tuple()
        }
    }
}
