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

    /// The six bytes every `.npy` file starts with.
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    static let descrs: [String: DType] = [
        "<f4": .float32, "<f2": .float16, "<f8": .float64, "<i8": .int64, "<i4": .int32, "<i2": .int16,
        "|i1": .int8, "|u1": .uint8, "|b1": .bool, "<V2": .bfloat16,
    ]

    /// Reads a `.npy` file. Fortran-order arrays are refused with a clear message.
    /// - Throws: `VGGError.badNpy` naming what is wrong.
    /// NumPy refuses longer headers unless pickles are allowed (numpy.lib.format's max_header_size).
    public static let maximumHeaderLength = 10_000

    public static func read(path: String) throws -> NpyArray {
        let file = try MappedFile(path: path, role: .array)
        return try file.withBytes(offset: 0, length: file.count) { try decode($0, origin: path) }
    }

    /// Decodes the bytes of a `.npy` file (such as a member of a `.npz` archive); `origin` names it in errors.
    /// - Throws: `VGGError.badNpy` naming what is wrong.
    public static func decode(_ bytes: UnsafeRawBufferPointer, origin path: String) throws -> NpyArray {
        let layout = try layout(bytes, origin: path)
        return NpyArray(dtype: layout.dtype, shape: layout.shape,
                        bytes: Array(bytes[layout.dataOffset..<(layout.dataOffset + layout.byteCount)]))
    }

    /// Where an `.npy`'s data lies and what it is, checked as `decode` checks it (the data must be exactly
    /// what the shape needs), without copying it: for streaming large arrays from a mapped file.
    public static func layout(_ bytes: UnsafeRawBufferPointer, origin path: String) throws
        -> (dtype: DType, shape: [Int], dataOffset: Int, byteCount: Int) {
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
        guard headerLength <= maximumHeaderLength else {
            throw bad("header of \(headerLength) bytes is longer than the \(maximumHeaderLength) NumPy reads without allow_pickle")
        }
        let parsed: NpyHeader
        do {
            parsed = try NpyHeader(slice(headerStart, headerLength), utf8: major == 3)
        } catch let problem as NpyHeader.Problem {
            throw bad("header is not what NumPy writes or reads: \(problem.text)")
        }
        guard let dtype = descrs[parsed.descr] else {
            let hint = parsed.descr.hasPrefix(">") ? " (big-endian data; save it little-endian with arr.astype(arr.dtype.newbyteorder('<')))" : ""
            throw bad("dtype \(SafeText.quote(parsed.descr)) is not supported\(hint)")
        }
        if parsed.fortranOrder {
            throw bad("array is stored in Fortran order; save it with np.ascontiguousarray first")
        }
        let shape = parsed.shape
        let shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        guard let nbytes = ShapeMath.byteCount(shape, dtype: dtype) else { throw bad("shape \(SafeText.quote(shapeText)) overflows") }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == nbytes else {
            throw bad("holds \(bytes.count - dataStart) data bytes but shape \(shape) of \(dtype.rawValue) needs \(nbytes)")
        }
        return (dtype, shape, dataStart, nbytes)
    }

    /// Reads every array of a `.npz` archive (`np.savez`, stored or deflated), keyed by name without `.npy`.
    /// - Throws: `VGGError.badNpy` or the zip reader's error.
    public static func readArchive(path: String) throws -> [(name: String, array: NpyArray)] {
        let archive = try ZipArchive(file: try MappedFile(path: path, role: .array))
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

    /// Writes the array as a version-1 `.npy` file, through a temporary file.
    public func write(to path: String, overwrite: Bool = true) throws {
        let out = Self.header(dtype: dtype, shape: shape) + bytes
        let file = try OutputFile(path: path, overwrite: overwrite)
        try out.withUnsafeBytes { try file.write($0, at: 0) }
        try file.commit()
    }
}

/// A `.npy` header as NumPy reads it (`numpy.lib.format`): a Python dict literal with exactly the keys
/// 'descr' (a string), 'fortran_order' (True or False) and 'shape' (a tuple of non-negative integers),
/// then spaces and a newline. Latin-1 in format versions 1 and 2, UTF-8 in 3. Nothing else is accepted:
/// no other keys, expressions or value types.
struct NpyHeader {
    struct Problem: Error { let text: String }

    let descr: String
    let fortranOrder: Bool
    let shape: [Int]

    private enum Value {
        case text(String), flag(Bool), tuple([Int])
    }

    init(_ bytes: [UInt8], utf8: Bool) throws {
        let text = utf8 ? String(decoding: bytes, as: UTF8.self) : String(bytes.map { Character(Unicode.Scalar($0)) })
        var reader = Reader(Array(text.unicodeScalars))
        let entries = try reader.dictionary()
        reader.skipSpaces()
        guard reader.atEnd else { throw Problem(text: "text after the closing brace") }
        guard bytes.last == 0x0A else { throw Problem(text: "it does not end with a newline") }
        guard Set(entries.map(\.0)) == ["descr", "fortran_order", "shape"] else {
            throw Problem(text: "the keys are \(entries.map { "'\(SafeText.oneLine($0.0))'" }.joined(separator: ", ")), not exactly 'descr', 'fortran_order' and 'shape'")
        }
        let values = Dictionary(entries, uniquingKeysWith: { $1 })
        guard case .text(let descr) = values["descr"]! else { throw Problem(text: "'descr' is not a string") }
        guard case .flag(let fortran) = values["fortran_order"]! else { throw Problem(text: "'fortran_order' is not True or False") }
        guard case .tuple(let shape) = values["shape"]! else { throw Problem(text: "'shape' is not a tuple of integers") }
        (self.descr, fortranOrder, self.shape) = (descr, fortran, shape)
    }

    /// A cursor over the header's characters.
    private struct Reader {
        let scalars: [Unicode.Scalar]
        var position = 0
        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var atEnd: Bool { position == scalars.count }
        var next: Unicode.Scalar? { atEnd ? nil : scalars[position] }

        mutating func skipSpaces() {
            while let c = next, c == " " || c == "\t" || c == "\n" || c == "\r" { position += 1 }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            skipSpaces()
            guard next == c else { throw Problem(text: "expected '\(c)' at character \(position)") }
            position += 1
        }

        /// Whether the next non-space character is `c` (consumed when it is).
        mutating func take(_ c: Unicode.Scalar) -> Bool {
            skipSpaces()
            guard next == c else { return false }
            position += 1
            return true
        }

        mutating func dictionary() throws -> [(String, Value)] {
            try expect("{")
            var entries: [(String, Value)] = []
            while !take("}") {
                let key = try string()
                try expect(":")
                entries.append((key, try value()))
                if take("}") { break }
                try expect(",")
            }
            return entries
        }

        mutating func string() throws -> String {
            skipSpaces()
            guard let quote = next, quote == "'" || quote == "\"" else { throw Problem(text: "expected a quoted string at character \(position)") }
            position += 1
            var out = String.UnicodeScalarView()
            while let c = next, c != quote {
                guard c != "\\", c != "\n" else { throw Problem(text: "escapes and line breaks in strings are not used in headers") }
                out.append(c)
                position += 1
            }
            try expect(quote)
            return String(out)
        }

        mutating func value() throws -> Value {
            skipSpaces()
            switch next {
            case "'", "\"": return .text(try string())
            case "(": return .tuple(try tuple())
            default:
                for (word, flag) in [("True", true), ("False", false)] where scalars[position...].starts(with: word.unicodeScalars) {
                    position += word.unicodeScalars.count
                    return .flag(flag)
                }
                throw Problem(text: "unexpected value at character \(position)")
            }
        }

        /// `()`, `(n,)` or `(a, b, …)` with an optional trailing comma; each a non-negative decimal integer.
        mutating func tuple() throws -> [Int] {
            try expect("(")
            var items: [Int] = []
            var sawComma = false
            while !take(")") {
                items.append(try integer())
                if take(")") { break }
                try expect(",")
                sawComma = true
            }
            guard items.count != 1 || sawComma else { throw Problem(text: "'shape' (n) is a number, not a tuple: NumPy writes (n,)") }
            return items
        }

        mutating func integer() throws -> Int {
            skipSpaces()
            var digits = ""
            while let c = next, ("0"..."9").contains(c) {
                digits.unicodeScalars.append(c)
                position += 1
            }
            guard digits.count == 1 || digits.first != "0" || digits.allSatisfy({ $0 == "0" }) else {
                throw Problem(text: "'shape' dimension \(digits.prefix(24)) has a leading zero, which Python does not allow")
            }
            guard !digits.isEmpty else { throw Problem(text: "'shape' holds something other than a non-negative integer at character \(position)") }
            guard digits.count <= 18, let value = Int(digits) else { throw Problem(text: "'shape' dimension \(digits.prefix(24)) is too large") }
            return value
        }
    }
}
