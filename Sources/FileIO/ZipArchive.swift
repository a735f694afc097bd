import CZlib

/// A read-only view of a zip archive in a memory-mapped file: end-of-central-directory (zip64 too),
/// central-directory entries, local-header data offsets. Stored entries are used in place; deflated
/// entries are inflated on request. Every size and offset is checked against the file's length.
public struct ZipArchive: Sendable {
    /// One member of the archive.
    public struct Entry: Sendable {
        public let name: String
        public let method: UInt16
        public let crc32: UInt32
        public let compressedSize: Int
        public let uncompressedSize: Int
        /// Absolute offset of the member's (compressed) data.
        public let dataOffset: Int
    }

    public let file: MappedFile
    public let entries: [Entry]
    /// Entry names → index of their first entry in `entries` (lookups must not be linear: 60,000 entries).
    private let index: [String: Int]
    /// Bytes all inflations of this archive may produce together.
    public let budget: ByteBudget

    /// True when `prefix` starts with a local file header signature (`PK\3\4`), as torch checks.
    public static func hasMagic(_ prefix: [UInt8]) -> Bool { prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) }

    /// Reads the central directory of `file`.
    /// - Throws: `VGGError.badZip` with the problem (and its byte offset).
    public init(file: MappedFile) throws {
        self.file = file
        let reader = ByteReader(file: file)
        func bad(_ problem: ZipProblem) -> VGGError { .badZip(path: file.path, problem: problem) }

        // The end-of-central-directory record is 22 bytes plus a comment of at most 65535 bytes.
        let searchStart = max(0, file.count - 22 - 65_535)
        var eocd: Int?
        if file.count >= 22 {
            for offset in stride(from: file.count - 22, through: searchStart, by: -1) where reader.u32(offset) == 0x0605_4B50 {
                eocd = offset
                break
            }
        }
        guard let eocd else { throw bad(.noEndRecord) }
        var count = Int(reader.u16(eocd + 10)!)
        var directorySize = Int(reader.u32(eocd + 12)!)
        var directoryOffset = Int(reader.u32(eocd + 16)!)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            guard eocd >= 20, reader.u32(eocd - 20) == 0x0706_4B50, let zip64 = reader.u64(eocd - 12),
                  zip64 < UInt64(file.count), reader.u32(Int(zip64)) == 0x0606_4B50,
                  let n = reader.u64(Int(zip64) + 32), let size = reader.u64(Int(zip64) + 40),
                  let offset = reader.u64(Int(zip64) + 48) else {
                throw bad(.zip64RecordDamaged)
            }
            guard n < UInt64(file.count), size <= UInt64(file.count), offset <= UInt64(file.count) else {
                throw bad(.zip64ValuesBeyondFile)
            }
            (count, directorySize, directoryOffset) = (Int(n), Int(size), Int(offset))
        }
        guard file.contains(offset: directoryOffset, length: directorySize) else {
            throw bad(.directoryOutsideFile(offset: directoryOffset, size: directorySize, fileSize: file.count))
        }
        var entries: [Entry] = []
        entries.reserveCapacity(min(count, 65_536))
        var position = directoryOffset
        for index in 0..<count {
            guard reader.u32(position) == 0x0201_4B50, let method = reader.u16(position + 10),
                  let crc = reader.u32(position + 16), let compressed32 = reader.u32(position + 20),
                  let uncompressed32 = reader.u32(position + 24), let nameLength = reader.u16(position + 28),
                  let extraLength = reader.u16(position + 30), let commentLength = reader.u16(position + 32),
                  let local32 = reader.u32(position + 42),
                  file.contains(offset: position + 46, length: Int(nameLength) + Int(extraLength)) else {
                throw bad(.directoryEntryDamaged(index: index, offset: position))
            }
            let name = String(decoding: file.bytes(offset: position + 46, length: Int(nameLength)), as: UTF8.self)
            var compressed = UInt64(compressed32), uncompressed = UInt64(uncompressed32), local = UInt64(local32)
            // Zip64 extended information: present fields appear in this fixed order.
            var extra = position + 46 + Int(nameLength)
            let extraEnd = extra + Int(extraLength)
            while extra + 4 <= extraEnd, let id = reader.u16(extra), let size = reader.u16(extra + 2) {
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed32 == 0xFFFF_FFFF, let v = reader.u64(field) { uncompressed = v; field += 8 }
                    if compressed32 == 0xFFFF_FFFF, let v = reader.u64(field) { compressed = v; field += 8 }
                    if local32 == 0xFFFF_FFFF, let v = reader.u64(field) { local = v }
                }
                extra += 4 + Int(size)
            }
            guard local < UInt64(file.count), compressed <= UInt64(file.count), uncompressed < UInt64(Int.max / 2),
                  let localName = reader.u16(Int(local) + 26), let localExtra = reader.u16(Int(local) + 28),
                  reader.u32(Int(local)) == 0x0403_4B50 else {
                throw bad(.localHeaderDamaged(entry: name, offset: local))
            }
            let dataOffset = Int(local) + 30 + Int(localName) + Int(localExtra)
            guard file.contains(offset: dataOffset, length: Int(compressed)) else {
                throw bad(.dataPastEnd(entry: name, bytes: compressed, offset: dataOffset, fileSize: file.count))
            }
            entries.append(Entry(name: name, method: method, crc32: crc, compressedSize: Int(compressed),
                                 uncompressedSize: Int(uncompressed), dataOffset: dataOffset))
            position += 46 + Int(nameLength) + Int(extraLength) + Int(commentLength)
        }
        self.entries = entries
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() where index[entry.name] == nil { index[entry.name] = position }
        self.index = index
        budget = ByteBudget(fileBytes: file.count)
    }

    /// The entry named `name`, if any.
    public func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry's uncompressed bytes: in place for stored entries, inflated for deflated ones.
    /// - Throws: `VGGError.badZip` for other methods, size mismatches and corrupt deflate streams.
    public func data(of entry: Entry) throws -> TensorData {
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw VGGError.badZip(path: file.path, problem: .storedSizesDiffer(entry: entry.name))
            }
            return TensorData(file: file, offset: entry.dataOffset, count: entry.compressedSize)
        case 8:
            return TensorData(bytes: try inflate(entry))
        default:
            throw VGGError.badZip(path: file.path, problem: .compressionMethod(entry: entry.name, method: entry.method))
        }
    }

    /// True when the entry's bytes match its recorded CRC-32.
    public func checksumMatches(_ entry: Entry) throws -> Bool {
        try data(of: entry).withUnsafeBytes { CRC32.of($0) } == entry.crc32
    }

    private func inflate(_ entry: Entry) throws -> [UInt8] {
        let failed = VGGError.badZip(path: file.path, problem: .inflateFailed(entry: entry.name, expected: entry.uncompressedSize))
        // Deflate expands at most ~1032:1; a larger claim is a corrupt or hostile header.
        guard entry.uncompressedSize <= entry.compressedSize * 1032 + 1024 else {
            throw VGGError.badZip(path: file.path, problem: .implausibleExpansion(entry: entry.name, uncompressed: entry.uncompressedSize,
                                                                                    compressed: entry.compressedSize))
        }
        try budget.spend(entry.uncompressedSize, for: "inflating entry '\(SafeText.quote(entry.name))'", in: file.path)
        var output = [UInt8](repeating: 0, count: entry.uncompressedSize)
        var stream = z_stream()
        guard CZlib_inflateInit2(&stream, -15) == Z_OK else { throw failed }
        defer { inflateEnd(&stream) }
        let status: Int32 = file.withBytes(offset: entry.dataOffset, length: entry.compressedSize) { input in
            output.withUnsafeMutableBytes { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = UInt32(clamping: input.count)
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = UInt32(clamping: out.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == entry.uncompressedSize else {
            throw failed
        }
        return output
    }
}

/// Little-endian integer reads at absolute offsets of a mapped file; nil past the end.
struct ByteReader {
    let file: MappedFile

    func u16(_ offset: Int) -> UInt16? { read(offset, 2).map { UInt16(truncatingIfNeeded: $0) } }
    func u32(_ offset: Int) -> UInt32? { read(offset, 4).map { UInt32(truncatingIfNeeded: $0) } }
    func u64(_ offset: Int) -> UInt64? { read(offset, 8) }

    private func read(_ offset: Int, _ size: Int) -> UInt64? {
        guard file.contains(offset: offset, length: size) else { return nil }
        return file.withBytes(offset: offset, length: size) { bytes in
            var value: UInt64 = 0
            for i in (0..<size).reversed() { value = value << 8 | UInt64(bytes[i]) }
            return value
        }
    }
}
