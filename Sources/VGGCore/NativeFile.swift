import FileIO
import Foundation

/// An open `.vggw` file: the validated header and zero-copy access to every tensor's bytes.
public final class NativeFile: @unchecked Sendable {
    public let path: String
    public let header: NativeHeader
    public let file: MappedFile
    /// Where tensor data begins (the end of the padded header).
    public let dataStart: Int

    /// True when the first bytes of `prefix` are the `.vggw` magic.
    public static func hasMagic(_ prefix: [UInt8]) -> Bool {
        prefix.count >= NativeFormat.magic.count && Array(prefix.prefix(NativeFormat.magic.count)) == NativeFormat.magic
    }

    /// Maps and validates `path`: magic, version, header size, JSON, every tensor's offset, size,
    /// alignment and overlap against the real file length, and (when `verifyChecksums`) every crc32.
    /// - Throws: `NativeFormatError`, or `VGGError.checksumMismatch`.
    public convenience init(path: String, verifyChecksums: Bool = true) throws {
        try self.init(file: try MappedFile(path: path), verifyChecksums: verifyChecksums)
    }

    /// Validates `file` (a file mapped, or bytes in memory) as `init(path:)` does.
    public init(file: MappedFile, verifyChecksums: Bool = true) throws {
        let path = file.path
        self.path = path
        self.file = file
        let preamble = file.bytes(offset: 0, length: NativeFormat.preambleSize)
        guard NativeFile.hasMagic(preamble) else {
            throw NativeFormatError.notNative(path: path)
        }
        guard preamble.count == NativeFormat.preambleSize else {
            throw NativeFormatError.corrupt(path: path, damage: .shorterThanPreamble(fileSize: file.count, preamble: NativeFormat.preambleSize))
        }
        let version = Int(Self.little(UInt32.self, preamble, at: 8))
        guard version == NativeFormat.version else {
            throw NativeFormatError.unsupportedVersion(path: path, version: version, supported: NativeFormat.version)
        }
        let declared = Self.little(UInt64.self, preamble, at: 16)
        guard declared <= UInt64(NativeFormat.maxHeaderSize) else {
            throw NativeFormatError.corrupt(path: path, damage: .headerTooLong(declared: declared, limit: NativeFormat.maxHeaderSize))
        }
        let headerLength = Int(declared)
        guard file.contains(offset: NativeFormat.preambleSize, length: headerLength) else {
            throw NativeFormatError.corrupt(path: path, damage: .headerPastEnd(length: headerLength, fileSize: file.count))
        }
        dataStart = NativeFormat.preambleSize + headerLength
        let json = file.withBytes(offset: NativeFormat.preambleSize, length: headerLength) { Data($0) }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            header = try decoder.decode(NativeHeader.self, from: json)
        } catch {
            throw NativeFormatError.corrupt(path: path, damage: .headerInvalid(Self.describe(error)))
        }
        try validate()
        if verifyChecksums { try verifyAllChecksums() }
    }

    private func validate() throws {
        func corrupt(_ damage: NativeFormatError.Damage) -> NativeFormatError { .corrupt(path: path, damage: damage) }
        guard header.format == NativeFormat.name, header.byteOrder == "little",
              header.alignment == NativeFormat.alignment else {
            throw corrupt(.wrongLayout(format: header.format, byteOrder: header.byteOrder, alignment: header.alignment))
        }
        var end = dataStart
        var names = Set<String>()
        for tensor in header.tensors {
            guard names.insert(tensor.name).inserted else { throw corrupt(.duplicateTensor(tensor.name)) }
            guard let nbytes = ShapeMath.byteCount(tensor.shape, dtype: tensor.dtype), nbytes == tensor.nbytes else {
                throw corrupt(.sizeMismatch(tensor: tensor.name, nbytes: tensor.nbytes, shape: tensor.shape, dtype: tensor.dtype))
            }
            guard tensor.offset % header.alignment == 0 else {
                throw corrupt(.misaligned(tensor: tensor.name, offset: tensor.offset, alignment: header.alignment))
            }
            // Tensors follow each other with only the zero padding that aligns the next one.
            guard let next = ShapeMath.alignUp(end, to: header.alignment), tensor.offset == next else {
                throw corrupt(.notContiguous(tensor: tensor.name, offset: tensor.offset, previousEnd: end, alignment: header.alignment))
            }
            guard file.contains(offset: end, length: next - end),
                  file.withBytes(offset: end, length: next - end, { $0.allSatisfy { $0 == 0 } }) else {
                throw corrupt(.nonZeroPadding(tensor: tensor.name))
            }
            guard file.contains(offset: tensor.offset, length: tensor.nbytes) else {
                throw corrupt(.dataPastEnd(tensor: tensor.name, offset: tensor.offset, nbytes: tensor.nbytes, fileSize: file.count))
            }
            guard tensor.crc32.count == 8, UInt32(tensor.crc32, radix: 16) != nil else {
                throw corrupt(.checksumText(tensor: tensor.name, text: tensor.crc32))
            }
            end = tensor.offset + tensor.nbytes
        }
        guard end == file.count || header.tensors.isEmpty else {
            throw corrupt(.trailingBytes(file.count - end))
        }
        do {
            try ModelCheck.validate(header)
        } catch {
            throw corrupt(.architecture(error))
        }
    }

    /// Recomputes every tensor's crc32 and compares it with the header.
    public func verifyAllChecksums() throws {
        for tensor in header.tensors {
            let actual = CRC32.hex(file.withBytes(offset: tensor.offset, length: tensor.nbytes) { CRC32.of($0) })
            guard actual == tensor.crc32 else {
                throw VGGError.checksumMismatch(path: path, tensor: tensor.name, expected: tensor.crc32, actual: actual)
            }
        }
    }

    /// The header entry of tensor `name`.
    public func tensor(named name: String) throws -> NativeTensor {
        guard let tensor = header.tensors.first(where: { $0.name == name }) else {
            throw VGGError.tensorNotFound(name: name, path: path)
        }
        return tensor
    }

    /// Calls `body` with the bytes of `tensor`, in place. - warning: Do not let the buffer escape.
    public func withBytes<R>(of tensor: NativeTensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try file.withBytes(offset: tensor.offset, length: tensor.nbytes, body)
    }

    private static func little<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + i]) }
        return value
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.debugDescription
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.debugDescription) at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(error)"
        }
    }
}

extension NativeFile {
    /// The checked model as a reader's `SourceModel` (canonical layouts, tensors in place in the map),
    /// so a `.vggw` converts to any other format through the same pipeline as a framework file.
    /// A floating-point tensor's values as float32.
    public func floats(of tensor: NativeTensor) -> [Float] {
        let count = ShapeMath.elementCount(tensor.shape) ?? 0
        var values = [Float](repeating: 0, count: count)
        withBytes(of: tensor) { raw in
            values.withUnsafeMutableBytes { FloatConversion.convert(raw, from: tensor.dtype, into: $0, to: .float32, count: count) }
        }
        return values
    }

    public func sourceModel() -> SourceModel {
        let tensors = Dictionary(header.tensors.map { tensor in
            (tensor.name, SourceTensor(sourceName: tensor.sourceName, dtype: tensor.dtype, shape: tensor.shape, layout: tensor.layout,
                                       data: TensorData(file: file, offset: tensor.offset, count: tensor.nbytes), fileOffset: tensor.offset))
        }) { first, _ in first }
        return SourceModel.canonical(header.architecture, tensors: tensors, format: "vggw", path: path, notes: header.provenance.notes)
    }
}

extension SourceModel {
    /// A model whose architecture is already canonical (a `.vggw` header, vggconv's own safetensors
    /// metadata): layers as recorded, each parameter found by its canonical tensor name.
    public static func canonical(_ architecture: NativeArchitecture, tensors: [String: SourceTensor], format: String,
                                 path: String, notes: [String]) -> SourceModel {
        let layers = architecture.layers.map { layer -> SourceLayer in
            let roles = LayerSchema.roles(layer.type, layer.config).map(\.role)
            let parameters = layer.parameters.compactMap { name -> SourceParameter? in
                guard var tensor = tensors[name],
                      let role = roles.first(where: { $0.tensorName(ofLayer: layer.name) == name }) else { return nil }
                tensor.layout = LayerSchema.layout(role, of: layer.type)
                return SourceParameter(role: role, tensor: tensor)
            }
            var source = SourceLayer(name: layer.sourceName, type: layer.type, config: layer.config, parameters: parameters)
            source.scopes = layer.scopes ?? []
            source.trainable = layer.isTrainable
            return source
        }
        return SourceModel(format: format, path: path, layers: layers, inputShape: architecture.inputShape,
                           dataFormat: .channelsFirst, architectureInferred: architecture.inferred, notes: notes)
    }
}
