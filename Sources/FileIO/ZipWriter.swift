/// The byte layout of a stored (uncompressed) zip archive as PyTorch's `torch.save` writes it (miniz
/// inside `PyTorchStreamWriter`): each member's local header carries an `FB` extra field padding its
/// payload to a 64-byte boundary, flags 0x0808 (data descriptor, UTF-8), zero CRC and sizes; a 16-byte
/// data descriptor follows each payload; the central directory holds the real CRCs and sizes. Facts:
/// docs/exports.md (the `.pth` row) and PyTorch's torch/serialization.py. Payloads are written by the caller at `payloadOffsets`; this type
/// supplies every other byte.
public struct ZipLayout: Sendable {
    public struct Member: Sendable {
        public let name: String
        public let size: Int
        /// Where the member's local header starts.
        public let headerOffset: Int
        /// Where its payload starts (a multiple of 64).
        public let payloadOffset: Int
    }

    public static let alignment = 64
    private static let localHeaderSize = 30, descriptorSize = 16, centralHeaderSize = 46, endSize = 22

    public let members: [Member]
    /// Where the central directory starts (after the last data descriptor).
    public let directoryOffset: Int

    /// Lays out members of the given names and payload sizes, in order.
    /// - Throws: `VGGError.architecture` when the archive would need zip64 (4 GiB or 65,535 members).
    public init(_ entries: [(name: String, size: Int)]) throws {
        var members: [Member] = []
        var cursor = 0
        for (name, size) in entries {
            let fixed = cursor + Self.localHeaderSize + name.utf8.count + 4
            let padding = (Self.alignment - fixed % Self.alignment) % Self.alignment
            let payload = fixed + padding
            members.append(Member(name: name, size: size, headerOffset: cursor, payloadOffset: payload))
            cursor = payload + size + Self.descriptorSize
        }
        guard cursor < Int(UInt32.max) - (1 << 20), members.count < 0xFFFF else {
            throw VGGError.architecture(reason: "the archive would exceed 4 GiB or 65,535 members, which needs zip64; vggconv writes .pth files up to 4 GiB")
        }
        self.members = members
        directoryOffset = cursor
    }

    /// The local header of member `index`, with its alignment padding (written at `headerOffset`).
    public func localHeader(_ index: Int) -> [UInt8] {
        let member = members[index]
        let name = Array(member.name.utf8)
        let padding = member.payloadOffset - (member.headerOffset + Self.localHeaderSize + name.count + 4)
        var bytes: [UInt8] = []
        bytes.appendLittle(UInt32(0x0403_4B50))
        bytes.appendLittle(UInt16(0))        // version needed
        bytes.appendLittle(UInt16(0x0808))   // data descriptor follows; UTF-8 names
        bytes.appendLittle(UInt16(0))        // stored
        bytes.appendLittle(UInt32(0))        // time, date
        bytes.appendLittle(UInt32(0))        // crc (in the descriptor)
        bytes.appendLittle(UInt32(0))        // compressed size (in the descriptor)
        bytes.appendLittle(UInt32(0))        // uncompressed size (in the descriptor)
        bytes.appendLittle(UInt16(name.count))
        bytes.appendLittle(UInt16(4 + padding))
        bytes += name
        bytes += Array("FB".utf8)
        bytes.appendLittle(UInt16(padding))
        bytes += [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        return bytes
    }

    /// The data descriptor that follows member `index`'s payload (written at `payloadOffset + size`).
    public func descriptor(_ index: Int, crc: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittle(UInt32(0x0807_4B50))
        bytes.appendLittle(crc)
        bytes.appendLittle(UInt32(members[index].size))
        bytes.appendLittle(UInt32(members[index].size))
        return bytes
    }

    /// The central directory and end record (written at `directoryOffset`), given every member's CRC.
    public func directory(crcs: [UInt32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (member, crc) in zip(members, crcs) {
            let name = Array(member.name.utf8)
            bytes.appendLittle(UInt32(0x0201_4B50))
            bytes.appendLittle(UInt16(0))       // made by
            bytes.appendLittle(UInt16(0))       // version needed
            bytes.appendLittle(UInt16(0x0808))
            bytes.appendLittle(UInt16(0))       // stored
            bytes.appendLittle(UInt32(0))       // time, date
            bytes.appendLittle(crc)
            bytes.appendLittle(UInt32(member.size))
            bytes.appendLittle(UInt32(member.size))
            bytes.appendLittle(UInt16(name.count))
            bytes.appendLittle(UInt16(0))       // extra
            bytes.appendLittle(UInt16(0))       // comment
            bytes.appendLittle(UInt16(0))       // disk
            bytes.appendLittle(UInt16(0))       // internal attributes
            bytes.appendLittle(UInt32(0))       // external attributes
            bytes.appendLittle(UInt32(member.headerOffset))
            bytes += name
        }
        let size = bytes.count
        bytes.appendLittle(UInt32(0x0605_4B50))
        bytes.appendLittle(UInt16(0))
        bytes.appendLittle(UInt16(0))
        bytes.appendLittle(UInt16(members.count))
        bytes.appendLittle(UInt16(members.count))
        bytes.appendLittle(UInt32(size))
        bytes.appendLittle(UInt32(directoryOffset))
        bytes.appendLittle(UInt16(0))
        return bytes
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order.
    public mutating func appendLittle<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
