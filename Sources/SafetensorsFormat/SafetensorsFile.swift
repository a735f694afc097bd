import Foundation
import FileIO
import VGGCore

/// The safetensors container (huggingface/safetensors "Format"): u64 little-endian header length N,
/// N bytes of JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
/// then the data, which the tensors must tile exactly. Read in place from a memory map; every field is
/// checked before use.
public final class SafetensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Absolute offset of the data in the file.
        public let offset: Int
        public let nbytes: Int
    }

    /// The JSON header may not exceed this (the Rust reader's MAX_HEADER_SIZE).
    public static let maximumHeaderSize = 100_000_000
    /// Tensors one file may list: a VGG has 32 to 70 and the largest published checkpoints' shards a few
    /// thousand, while each listed tensor costs memory to parse (1.4M empty ones took 5.5 GB).
    public static let maximumTensorCount = 65_536
    /// dtype names ↔ vggconv's.
    public static let dtypes: [String: DType] = [
        "F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64, "I64": .int64, "I32": .int32,
        "I16": .int16, "I8": .int8, "U8": .uint8, "BOOL": .bool,
    ]

    public let path: String
    public let file: MappedFile
    /// Tensors in data order.
    public let entries: [Entry]
    public let metadata: [String: String]

    /// True when `prefix` (≥ 9 bytes) looks like a safetensors file: a plausible header length, then `{`.
    public static func hasMagic(_ prefix: [UInt8], fileSize: Int) -> Bool {
        guard prefix.count >= 9, prefix[8] == UInt8(ascii: "{") else { return false }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(prefix[i]) }
        return length >= 2 && length <= UInt64(min(maximumHeaderSize, max(fileSize - 8, 0)))
    }

    /// Maps and validates `path`.
    /// - Throws: `VGGError.badSafetensors` naming what is wrong.
    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    /// Validates `file` (a file mapped, or bytes in memory) as `init(path:)` does.
    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        self.file = file
        func bad(_ why: String) -> VGGError { .badSafetensors(path: path, reason: why) }
        let prefix = file.bytes(offset: 0, length: 9)
        guard Self.hasMagic(prefix, fileSize: file.count) else {
            throw bad("no safetensors header (an 8-byte length followed by a JSON object within the file)")
        }
        var length = 0
        for i in (0..<8).reversed() { length = length << 8 | Int(prefix[i]) }
        // Counted before the JSON is parsed: every tensor entry has one "data_offsets" key.
        let listed = file.withBytes(offset: 8, length: length) { Self.occurrences(of: Array(#""data_offsets""#.utf8), in: $0) }
        guard listed <= Self.maximumTensorCount else {
            throw bad("the header lists \(listed) tensors, more than the \(Self.maximumTensorCount) vggconv reads from one file")
        }
        let json = file.withBytes(offset: 8, length: length) { Data($0) }
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        let dataStart = 8 + length
        var ranges: [(begin: Int, end: Int, index: Int)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (key, text) in map {
                    guard let text = text as? String else { throw bad("__metadata__ value '\(SafeText.quote(key))' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            let label = "tensor '\(SafeText.quote(name))'"
            guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw bad("\(label) lacks dtype, shape or data_offsets")
            }
            guard let dtype = Self.dtypes[dtypeName] else { throw bad("\(label) has dtype \(SafeText.quote(dtypeName)), which vggconv does not read") }
            guard let nbytes = ShapeMath.byteCount(shape, dtype: dtype), offsets[0] >= 0, offsets[1] >= offsets[0],
                  offsets[1] - offsets[0] == nbytes else {
                throw bad("\(label): data_offsets \(offsets) do not hold shape \(shape) of \(dtypeName)")
            }
            ranges.append((offsets[0], offsets[1], entries.count))
            entries.append(Entry(name: name, dtype: dtype, shape: shape, offset: offsets[0], nbytes: nbytes))
        }
        // The tensors must tile the data section: no holes, no overlaps, nothing after the last.
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for range in ranges {
            guard range.begin == cursor else {
                throw bad("tensor '\(SafeText.quote(entries[range.index].name))' starts at data offset \(range.begin), not where the previous one ends (\(cursor))")
            }
            cursor = range.end
        }
        guard dataStart + cursor == file.count else {
            throw bad("the tensors end at byte \(dataStart + cursor) but the file has \(file.count) bytes (truncated or padded)")
        }
        self.entries = ranges.map { range in
            let entry = entries[range.index]
            return Entry(name: entry.name, dtype: entry.dtype, shape: entry.shape, offset: dataStart + entry.offset, nbytes: entry.nbytes)
        }
        self.metadata = metadata
    }

    /// How many times `needle` occurs in `bytes` (non-overlapping).
    static func occurrences(of needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, let first = needle.first else { return 0 }
        var count = 0
        var position = 0
        while position + needle.count <= bytes.count, let found = memchr(base + position, Int32(first), bytes.count - position) {
            let start = base.distance(to: UnsafeRawPointer(found))
            guard start + needle.count <= bytes.count else { break }
            if memcmp(found, needle, needle.count) == 0 {
                count += 1
                position = start + needle.count
            } else {
                position = start + 1
            }
        }
        return count
    }

    /// The tensor's bytes, in place.
    public func data(of entry: Entry) -> TensorData { TensorData(file: file, offset: entry.offset, count: entry.nbytes) }
}

/// The header and layout of a safetensors file to write: tensors in the given order, back to back.
public struct SafetensorsLayout: Sendable {
    /// The encoded header, padded with spaces to a multiple of 8 (as the Rust writer does).
    public let header: [UInt8]
    /// Absolute file offsets of each tensor's data.
    public let offsets: [Int]
    public let totalBytes: Int

    /// - Throws: `VGGError.unsupportedDType` for a dtype safetensors has no name for.
    public init(_ tensors: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String]) throws {
        var object: [String: Any] = ["__metadata__": metadata]
        var cursor = 0
        var relative: [Int] = []
        for tensor in tensors {
            guard let name = SafetensorsFile.dtypes.first(where: { $0.value == tensor.dtype })?.key,
                  let nbytes = ShapeMath.byteCount(tensor.shape, dtype: tensor.dtype) else {
                throw VGGError.unsupportedDType(tensor: tensor.name, dtype: tensor.dtype.rawValue, reason: "has no safetensors name")
            }
            object[tensor.name] = ["dtype": name, "shape": tensor.shape, "data_offsets": [cursor, cursor + nbytes]] as [String: Any]
            relative.append(cursor)
            cursor += nbytes
        }
        var json = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var header: [UInt8] = []
        header.appendLittle(UInt64(json.count))
        header += json
        self.header = header
        offsets = relative.map { $0 + header.count }
        totalBytes = header.count + cursor
    }
}
