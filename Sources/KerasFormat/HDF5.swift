import CHDF5
import FileIO
import VGGCore

/// Failures reading HDF5 structure, each naming the file and the object.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let object: String
    public let reason: String
    public var description: String { "\(path): \(object.isEmpty ? "" : "\(object): ")\(reason)" }
}

/// An open HDF5 file, read only. Opened from a path, or in place from a byte range of a memory map
/// (the `model.weights.h5` inside a `.keras` archive) without copying it.
/// libhdf5 is not thread-safe: use one `HDF5File` from one thread at a time.
final class HDF5File {
    let id: hid_t
    let path: String
    /// The bytes the file's offsets are relative to, for zero-copy dataset reads.
    let image: TensorData
    let mapped: MappedFile?
    let imageOffset: Int
    /// What decoding (chunked, compressed or byte-swapped datasets) may allocate for this file.
    let budget: ByteBudget

    /// `\x89HDF\r\n\x1a\n`, found at offset 0 (or 512, 1024, … when a user block precedes it).
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    static func hasSignature(_ prefix: [UInt8]) -> Bool { prefix.starts(with: signature) }

    /// Opens an HDF5 file that is the whole of `file`.
    convenience init(file: MappedFile) throws {
        try self.init(file: file, offset: 0, count: file.count, displayPath: file.path)
    }

    /// Opens the HDF5 image stored at `offset..<offset+count` of `file`.
    init(file: MappedFile, offset: Int, count: Int, displayPath: String) throws {
        CHDF5_silence_errors()
        path = displayPath
        mapped = file
        imageOffset = offset
        image = TensorData(file: file, offset: offset, count: count)
        budget = ByteBudget(fileBytes: count)
        let prefix = file.bytes(offset: offset, length: 8)
        guard HDF5File.hasSignature(prefix) else {
            throw HDF5Error(path: displayPath, object: "", reason: "not an HDF5 file (no HDF5 signature at its start); expected a Keras .h5 / .weights.h5 / .keras file")
        }
        let opened: hid_t = image.withUnsafeBytes { bytes in
            H5LTopen_file_image(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count,
                                CHDF5_LT_FILE_IMAGE_DONT_COPY_AND_RELEASE())
        }
        guard opened >= 0 else {
            throw HDF5Error(path: displayPath, object: "", reason: "HDF5 library cannot open it: the file is truncated or corrupt (\(count) bytes); copy or download it again")
        }
        id = opened
        try HDF5Hygiene.check(self)
    }

    deinit { H5Fclose(id) }

    var root: HDF5Group { get throws { try HDF5Group(file: self, path: "/") } }
}

/// A group or dataset handle, closed when released.
class HDF5Object {
    let file: HDF5File
    let id: hid_t
    let path: String

    init(file: HDF5File, id: hid_t, path: String) {
        self.file = file
        self.id = id
        self.path = path
    }

    deinit { H5Oclose(id) }

    func error(_ reason: String) -> HDF5Error { HDF5Error(path: file.path, object: path, reason: reason) }

    /// The most strings one attribute may hold (`layer_names` of a large model: a few thousand).
    static let maximumStringCount = 1 << 20

    /// True when an attribute `name` exists.
    func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    /// The attribute as a list of strings (fixed- or variable-length, scalar or 1-D); nil when absent.
    func stringsAttribute(_ name: String) throws -> [String]? {
        guard hasAttribute(name) else { return nil }
        let attribute = H5Aopen(id, name, CHDF5_P_DEFAULT())
        guard attribute >= 0 else { throw error("cannot open attribute \(name)") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute), space = H5Aget_space(attribute)
        defer { H5Tclose(type); H5Sclose(space) }
        let count = Int(max(0, H5Sget_simple_extent_npoints(space)))
        // h5py writes an empty list as an empty float array: no strings, whatever its type.
        if count == 0 { return [] }
        guard H5Tget_class(type) == H5T_STRING else { throw error("attribute \(name) is not a string") }
        guard count <= Self.maximumStringCount else { throw error("attribute \(SafeText.quote(name)) holds \(count) strings; Keras writes at most a few thousand") }
        if H5Tis_variable_str(type) > 0 {
            let memory = H5Tcopy(CHDF5_T_C_S1())
            defer { H5Tclose(memory) }
            H5Tset_size(memory, Int(bitPattern: UInt(bitPattern: -1)))  // H5T_VARIABLE
            H5Tset_cset(memory, H5Tget_cset(type))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard H5Aread(attribute, memory, &pointers) >= 0 else { throw error("cannot read attribute \(SafeText.quote(name))") }
            defer { for p in pointers { H5free_memory(p) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        guard size > 0, size < 1 << 20 else { throw error("attribute \(name) has an unreasonable string size \(size)") }
        var buffer = [UInt8](repeating: 0, count: count * size)
        guard H5Aread(attribute, type, &buffer) >= 0 else { throw error("cannot read attribute \(name)") }
        return (0..<count).map { i in
            let slice = buffer[(i * size)..<((i + 1) * size)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self).trimmingTrailingSpaces()
        }
    }

    /// A string attribute split into `name0`, `name1`, … the way Keras splits attributes above the
    /// object-header limit, concatenated in order; the unsplit attribute if present.
    func chunkedStringsAttribute(_ name: String) throws -> [String]? {
        if let whole = try stringsAttribute(name) { return whole }
        var parts: [String] = []
        var index = 0
        while let chunk = try stringsAttribute("\(name)\(index)") {
            parts += chunk
            index += 1
        }
        return index == 0 ? nil : parts
    }
}

/// An HDF5 group.
final class HDF5Group: HDF5Object {
    convenience init(file: HDF5File, path: String) throws {
        let id = H5Oopen(file.id, path, CHDF5_P_DEFAULT())
        guard id >= 0, H5Iget_type(id) == H5I_GROUP else {
            if id >= 0 { H5Oclose(id) }
            throw HDF5Error(path: file.path, object: path, reason: "no such group")
        }
        self.init(file: file, id: id, path: path)
    }

    private func childPath(_ name: String) -> String { path == "/" ? "/\(name)" : "\(path)/\(name)" }

    /// Names of the links in this group, in HDF5's name order (which is not layer order).
    func childNames() throws -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(id, &info) >= 0 else { throw error("cannot list group") }
        return try (0..<info.nlinks).map { index in
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, CHDF5_P_DEFAULT())
            guard length >= 0 else { throw error("cannot read link \(index)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, CHDF5_P_DEFAULT())
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Kind of the object at `relative` (which may contain `/`), nil when absent.
    /// True when `relative` (which may contain `/`) names a group.
    func isGroup(_ relative: String) -> Bool { kind(of: relative) == H5I_GROUP }

    /// True when `relative` (which may contain `/`) names a dataset.
    func isDataset(_ relative: String) -> Bool { kind(of: relative) == H5I_DATASET }

    private func kind(of relative: String) -> H5I_type_t? {
        existsAlongPath(relative) ? openedKind(relative) : nil
    }

    // H5Lexists fails rather than answering false when an intermediate group is missing.
    private func existsAlongPath(_ relative: String) -> Bool {
        var prefix = ""
        for part in relative.split(separator: "/", omittingEmptySubsequences: true) {
            prefix = prefix.isEmpty ? String(part) : "\(prefix)/\(part)"
            if H5Lexists(id, prefix, CHDF5_P_DEFAULT()) <= 0 { return false }
        }
        return true
    }

    private func openedKind(_ relative: String) -> H5I_type_t? {
        let object = H5Oopen(id, relative, CHDF5_P_DEFAULT())
        guard object >= 0 else { return nil }
        defer { H5Oclose(object) }
        return H5Iget_type(object)
    }

    func group(_ relative: String) throws -> HDF5Group {
        guard kind(of: relative) == H5I_GROUP else { throw error("has no group '\(relative)'") }
        return try HDF5Group(file: file, path: childPath(relative))
    }

    func dataset(_ relative: String) throws -> HDF5Dataset {
        guard kind(of: relative) == H5I_DATASET else { throw error("has no dataset '\(relative)'") }
        let object = H5Dopen2(id, relative, CHDF5_P_DEFAULT())
        guard object >= 0 else { throw error("cannot open dataset '\(relative)'") }
        return HDF5Dataset(file: file, id: object, path: childPath(relative))
    }
}

/// An HDF5 dataset: its shape and element type without reading data, and its bytes on demand.
final class HDF5Dataset: HDF5Object {
    /// Dimensions, slowest first.
    func shape() throws -> [Int] {
        let space = H5Dget_space(id)
        guard space >= 0 else { throw error("cannot read dataspace") }
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0, rank <= 32 else { throw error("has an unsupported rank \(rank)") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return try dims.map { d in
            guard d <= hsize_t(Int.max) else { throw error("dimension \(d) is too large") }
            return Int(d)
        }
    }

    /// The element dtype. Keras 3 marks bfloat16 data with a `dtype` attribute.
    func dtype() throws -> DType {
        let type = H5Dget_type(id)
        defer { H5Tclose(type) }
        let size = H5Tget_size(type)
        let marked = try stringsAttribute("dtype")?.first
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            switch size {
            case 2: return marked == "bfloat16" ? .bfloat16 : .float16
            case 4: return .float32
            case 8: return .float64
            default: break
            }
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): return .int8
            case (1, false): return .uint8
            case (2, true): return .int16
            case (2, false) where marked == "bfloat16": return .bfloat16
            case (4, true): return .int32
            case (8, true): return .int64
            default: break
            }
        case H5T_ENUM where size == 1:
            return .bool
        case H5T_OPAQUE where size == 2 && marked == "bfloat16":
            return .bfloat16
        default: break
        }
        throw error("has an element type vggconv cannot read (HDF5 class \(H5Tget_class(type).rawValue), \(size) bytes)")
    }

    /// The bytes of the dataset as little-endian C-order elements: in place from the mapped file when
    /// the dataset is stored contiguously and uncompressed, otherwise decoded by libhdf5.
    func data(dtype: DType, shape: [Int]) throws -> (TensorData, fileOffset: Int?) {
        guard let nbytes = ShapeMath.byteCount(shape, dtype: dtype) else { throw error("shape \(shape) overflows") }
        if nbytes == 0 { return (TensorData(bytes: []), nil) }
        let type = H5Dget_type(id)
        defer { H5Tclose(type) }
        let address = H5Dget_offset(id)
        let littleEndian = H5Tget_order(type) != H5T_ORDER_BE
        if address != CHDF5_HADDR_UNDEF(), littleEndian, H5Dget_storage_size(id) == hsize_t(nbytes),
           address <= haddr_t(Int.max), let mapped = file.mapped {
            let absolute = file.imageOffset + Int(address)
            guard mapped.contains(offset: absolute, length: nbytes),
                  Int(address) + nbytes <= file.image.count else {
                throw error("data (\(nbytes) bytes at offset \(address)) runs past the end of the file; the file is truncated")
            }
            return (TensorData(file: mapped, offset: absolute, count: nbytes), absolute)
        }
        let memory = H5Tcopy(type)
        defer { H5Tclose(memory) }
        if H5Tget_class(type) != H5T_OPAQUE { H5Tset_order(memory, H5T_ORDER_LE) }
        guard H5Tget_size(memory) == dtype.byteSize else { throw error("element size does not match \(dtype.rawValue)") }
        try file.budget.spend(nbytes, for: "decoding dataset \(SafeText.quote(path))", in: file.path)
        var bytes = [UInt8](repeating: 0, count: nbytes)
        let status = bytes.withUnsafeMutableBytes {
            H5Dread(id, memory, CHDF5_S_ALL(), CHDF5_S_ALL(), CHDF5_P_DEFAULT(), $0.baseAddress)
        }
        guard status >= 0 else { throw error("cannot read data (truncated or corrupt file, or an unavailable compression filter)") }
        return (TensorData(bytes: bytes), nil)
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
