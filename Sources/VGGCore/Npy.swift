import Foundation

/// NumPy `.npy` files (format versions 1–3): a magic string, a Python-dict header, raw C-order data.
/// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
public struct NpyArray: Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Little-endian, C-order element bytes.
    public var bytes: [UInt8]

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    static let descrs: [String: DType] = [
        "<f4": .float32, "<f2": .float16, "<f8": .float64, "<i8": .int64, "<i4": .int32, "<i2": .int16,
        "|i1": .int8, "|u1": .uint8, "|b1": .bool, "<V2": .bfloat16,
    ]

    /// Reads a `.npy` file. Fortran-order arrays are refused with a clear message.
    /// - Throws: `VGGError.badNpy` naming what is wrong.
    public static func read(path: String) throws -> NpyArray {
        let file = try MappedFile(path: path)
        return try file.withBytes(offset: 0, length: file.count) { try decode($0, origin: path) }
    }

    /// Decodes the bytes of a `.npy` file (such as a member of a `.npz` archive); `origin` names it in errors.
    /// - Throws: `VGGError.badNpy` naming what is wrong.
    public static func decode(_ bytes: UnsafeRawBufferPointer, origin path: String) throws -> NpyArray {
        func bad(_ why: String) -> VGGError { .badNpy(path: path, reason: why) }
        func slice(_ offset: Int, _ length: Int) -> [UInt8] { Array(bytes[offset..<min(bytes.count, offset + length)]) }
        let prefix = slice(0, 12)
        guard prefix.count >= 10, Array(prefix.prefix(6)) == magic else { throw bad("missing the \\x93NUMPY magic") }
        let major = prefix[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: (headerLength, headerStart) = (Int(prefix[8]) | Int(prefix[9]) << 8, 10)
        case 2, 3:
            guard prefix.count == 12 else { throw bad("truncated preamble") }
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24
            headerStart = 12
        default: throw bad("unsupported format version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw bad("header runs past the end of the file") }
        let header = String(decoding: slice(headerStart, headerLength), as: UTF8.self)
        let descr = try field("descr", in: header, path: path)
        guard let dtype = descrs[descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))] else {
            let hint = descr.contains(">") ? " (big-endian data; save it little-endian with arr.astype(arr.dtype.newbyteorder('<')))" : ""
            throw bad("dtype \(SafeText.quote(descr)) is not supported\(hint)")
        }
        if try field("fortran_order", in: header, path: path) != "False" {
            throw bad("array is stored in Fortran order; save it with np.ascontiguousarray first")
        }
        let shapeText = try field("shape", in: header, path: path)
        let shape = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .compactMap { Int($0) }
        guard let nbytes = ShapeMath.byteCount(shape, dtype: dtype) else { throw bad("shape \(SafeText.quote(shapeText)) overflows") }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == nbytes else {
            throw bad("holds \(bytes.count - dataStart) data bytes but shape \(shape) of \(dtype.rawValue) needs \(nbytes)")
        }
        return NpyArray(dtype: dtype, shape: shape, bytes: slice(dataStart, nbytes))
    }

    /// Reads every array of a `.npz` archive (`np.savez`, stored or deflated), keyed by name without `.npy`.
    /// - Throws: `VGGError.badNpy` or the zip reader's error.
    public static func readArchive(path: String) throws -> [(name: String, array: NpyArray)] {
        let archive = try ZipArchive(file: try MappedFile(path: path))
        return try archive.entries.filter { $0.name.hasSuffix(".npy") }.map { entry in
            let array = try archive.data(of: entry).withUnsafeBytes { try decode($0, origin: "\(path): \(entry.name)") }
            return (String(entry.name.dropLast(4)), array)
        }
    }

    /// The version-1 `.npy` preamble and header for an array of `dtype` and `shape` (data follows it),
    /// padded to 64 bytes as NumPy pads it.
    public static func header(dtype: DType, shape: [Int]) -> [UInt8] {
        let descr = descrs.first { $0.value == dtype }!.key
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        return magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
    }

    private static func field(_ key: String, in header: String, path: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)':") else {
            throw VGGError.badNpy(path: path, reason: "header has no '\(key)' entry")
        }
        let rest = header[keyRange.upperBound...].drop(while: { $0 == " " })
        let end: String.Index
        if rest.first == "(" {
            end = rest.firstIndex(of: ")").map { rest.index(after: $0) } ?? rest.endIndex
        } else {
            end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
        }
        return String(rest[..<end]).trimmingCharacters(in: .whitespaces)
    }

    /// Writes the array as a version-1 `.npy` file, through a temporary file.
    public func write(to path: String, overwrite: Bool = true) throws {
        let out = Self.header(dtype: dtype, shape: shape) + bytes
        let file = try OutputFile(path: path, overwrite: overwrite)
        try out.withUnsafeBytes { try file.write($0, at: 0) }
        try file.commit()
    }
}
