/// What is wrong with a zip archive (a `.keras`, a `torch.save` file, an `.npz`), as data a caller can
/// match on. `truncated` separates a file cut short (download it again) from one damaged inside.
public enum ZipProblem: Sendable, Equatable, CustomStringConvertible {
    case noEndRecord
    case zip64RecordDamaged
    case zip64ValuesBeyondFile
    case directoryOutsideFile(offset: Int, size: Int, fileSize: Int)
    case directoryEntryDamaged(index: Int, offset: Int)
    case localHeaderDamaged(entry: String, offset: UInt64)
    case dataPastEnd(entry: String, bytes: UInt64, offset: Int, fileSize: Int)
    /// A stored (uncompressed) entry whose two sizes differ.
    case storedSizesDiffer(entry: String)
    case compressionMethod(entry: String, method: UInt16)
    /// More uncompressed bytes claimed than deflate can produce from the compressed ones.
    case implausibleExpansion(entry: String, uncompressed: Int, compressed: Int)
    case inflateFailed(entry: String, expected: Int)
    case checksum(entry: String, recorded: UInt32, actual: UInt32)

    /// True when the archive looks cut short rather than damaged inside.
    public var truncated: Bool {
        switch self {
        case .noEndRecord, .dataPastEnd: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .noEndRecord: return "no end-of-central-directory record (truncated or not a zip)"
        case .zip64RecordDamaged: return "zip64 end-of-central-directory record is missing or damaged"
        case .zip64ValuesBeyondFile: return "zip64 directory values exceed the file size"
        case .directoryOutsideFile(let offset, let size, let fileSize):
            return "central directory (\(size) bytes at offset \(offset)) lies outside the \(fileSize)-byte file"
        case .directoryEntryDamaged(let index, let offset): return "central directory entry \(index) at offset \(offset) is damaged"
        case .localHeaderDamaged(let entry, let offset):
            return "entry '\(SafeText.quote(entry))': local header at offset \(offset) is missing or damaged"
        case .dataPastEnd(let entry, let bytes, let offset, let fileSize):
            return "entry '\(SafeText.quote(entry))': \(bytes) bytes of data at offset \(offset) run past the end of the \(fileSize)-byte file (truncated?)"
        case .storedSizesDiffer(let entry): return "stored entry '\(SafeText.quote(entry))' has different compressed and uncompressed sizes"
        case .compressionMethod(let entry, let method):
            return "entry '\(SafeText.quote(entry))' uses compression method \(method); only stored (0) and deflate (8) are supported"
        case .implausibleExpansion(let entry, let uncompressed, let compressed):
            return "entry '\(SafeText.quote(entry))': claims \(uncompressed) bytes uncompressed from \(compressed) compressed"
        case .inflateFailed(let entry, let expected):
            return "entry '\(SafeText.quote(entry))': deflate data is corrupt or does not inflate to the recorded \(expected) bytes"
        case .checksum(let entry, let recorded, let actual):
            return "record '\(SafeText.quote(entry))' fails its CRC-32 (recorded \(CRC32.hex(recorded)), actual \(CRC32.hex(actual))); the file is damaged"
        }
    }
}
