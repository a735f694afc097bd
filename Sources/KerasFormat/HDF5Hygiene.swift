import CHDF5
#if canImport(Glibc)
import Glibc
#endif
import FileIO
import VGGCore

/// What an HDF5 file must look like before vggconv reads anything from it, checked once when it is
/// opened: only hard links (a soft or external link can point into another file), and datasets that
/// store their own bytes in this file — no external storage, no virtual datasets, no filters but
/// deflate, shuffle and the Fletcher-32 checksum, every chunk of a chunked dataset present, element
/// types Keras writes. Keras 3's own loader refuses the same things. libhdf5 is never asked to open a
/// second file.
enum HDF5Hygiene {
    /// Links a Keras file may hold; a real one has a few hundred.
    static let maximumLinks = 100_000
    /// HDF5's filter ids for deflate, shuffle and the Fletcher-32 checksum (H5Z_FILTER_DEFLATE,
    /// H5Z_FILTER_SHUFFLE, H5Z_FILTER_FLETCHER32): built into libhdf5, and what h5py's `compression="gzip"`,
    /// `shuffle=True` and `fletcher32=True` write. The checksum is verified as the chunk is read.
    static let allowedFilters: Set<Int32> = [1, 2, 3]

    private final class Walk {
        var links: [(name: String, type: Int32)] = []
        var overflow = false
    }

    /// - Throws: `HDF5Error` naming the first object that breaks a rule.
    static func check(_ file: HDF5File) throws {
        let walk = Walk()
        let status = withExtendedLifetime(walk) {
            CHDF5_visit_links(file.id, { name, type, context in
                let walk = Unmanaged<Walk>.fromOpaque(context!).takeUnretainedValue()
                guard walk.links.count < HDF5Hygiene.maximumLinks else {
                    walk.overflow = true
                    return 1
                }
                walk.links.append((String(cString: name!), type))
                return 0
            }, Unmanaged.passUnretained(walk).toOpaque())
        }
        guard !walk.overflow else {
            throw HDF5Error(path: file.path, object: "", reason: "has more than \(maximumLinks) links; a Keras file has a few hundred")
        }
        guard status >= 0 else {
            throw HDF5Error(path: file.path, object: "", reason: "its group structure cannot be read (corrupt file); copy or download it again")
        }
        for link in walk.links {
            let object = "/" + SafeText.quote(link.name)
            guard link.type == H5L_TYPE_HARD.rawValue else {
                let kind = link.type == H5L_TYPE_SOFT.rawValue ? "a soft link" : link.type == H5L_TYPE_EXTERNAL.rawValue
                    ? "an external link (to another file)" : "a user-defined link"
                throw HDF5Error(path: file.path, object: object, reason: "is \(kind); Keras files hold only hard links, and vggconv never follows a link that could leave the file")
            }
            let id = H5Oopen(file.id, link.name, CHDF5_P_DEFAULT())
            guard id >= 0 else { throw HDF5Error(path: file.path, object: object, reason: "cannot be opened (corrupt file)") }
            defer { H5Oclose(id) }
            if H5Iget_type(id) == H5I_DATASET {
                try checkDataset(id, object: object, path: file.path)
            }
        }
    }

    /// Storage and type rules for one dataset, from its creation properties (no data is read).
    private static func checkDataset(_ id: hid_t, object: String, path: String) throws {
        func refuse(_ reason: String) -> HDF5Error { HDF5Error(path: path, object: object, reason: reason) }
        let plist = H5Dget_create_plist(id)
        guard plist >= 0 else { throw refuse("has unreadable creation properties (corrupt file)") }
        defer { H5Pclose(plist) }
        let layout = H5Pget_layout(plist)
        guard layout != H5D_VIRTUAL else {
            throw refuse("is a virtual dataset (its data lives in other files); Keras never writes one")
        }
        guard H5Pget_external_count(plist) == 0 else {
            throw refuse("stores its data in an external file; Keras never does, and vggconv does not read other files")
        }
        let filters = H5Pget_nfilters(plist)
        guard filters >= 0, filters <= 8 else { throw refuse("has an unreadable filter pipeline") }
        for index in 0..<UInt32(filters) {
            var flags: UInt32 = 0, count = 0, config: UInt32 = 0
            var name = [CChar](repeating: 0, count: 64)
            let filter = H5Pget_filter2(plist, index, &flags, &count, nil, name.count, &name, &config)
            guard allowedFilters.contains(filter) else {
                // The file's own name for the filter (h5py writes "lzf"): up to its NUL, within the buffer.
                let label = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let named = label.isEmpty ? "" : " (\(SafeText.quote(label)))"
                throw refuse("is compressed with HDF5 filter \(filter)\(named); vggconv reads datasets stored plain or with deflate (gzip), shuffle and Fletcher-32 only: rewrite the file without it (h5repack -f NONE)")
            }
        }
        let type = H5Dget_type(id)
        guard type >= 0 else { throw refuse("has an unreadable element type") }
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard [H5T_FLOAT, H5T_INTEGER, H5T_ENUM, H5T_OPAQUE].contains(typeClass), H5Tget_size(type) <= 8 else {
            throw refuse("has element type class \(typeClass.rawValue) of \(H5Tget_size(type)) bytes; Keras weights are numbers")
        }
        guard layout == H5D_CHUNKED else { return }
        try checkChunks(id, plist: plist, refuse: refuse)
    }

    /// Every chunk of a chunked dataset must be written: a missing one reads back as fill values, and a
    /// dataset with none would make libhdf5 allocate its whole declared size from a few bytes of file.
    private static func checkChunks(_ id: hid_t, plist: hid_t, refuse: (String) -> HDF5Error) throws {
        let space = H5Dget_space(id)
        guard space >= 0 else { throw refuse("has an unreadable dataspace") }
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0, rank <= 32, H5Pget_chunk(plist, 0, nil) == rank else { throw refuse("has an inconsistent chunk layout") }
        var dims = [hsize_t](repeating: 0, count: Int(rank)), chunk = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        H5Pget_chunk(plist, rank, &chunk)
        var expected: UInt64 = 1
        for (dim, side) in zip(dims, chunk) {
            guard side > 0 else { throw refuse("has a zero chunk size") }
            let (product, overflow) = expected.multipliedReportingOverflow(by: (dim + side - 1) / side)
            guard !overflow else { throw refuse("declares more chunks than can be counted") }
            expected = product
        }
        var written: hsize_t = 0
        // With no chunk written there is no chunk index for libhdf5 to count. The whole dataspace is
        // passed as itself: libhdf5 1.10 rejects H5S_ALL here ("invalid dataspace identifier").
        if H5Dget_storage_size(id) > 0 {
            guard H5Dget_num_chunks(id, space, &written) >= 0 else { throw refuse("has an unreadable chunk index") }
        }
        guard written == expected else {
            throw refuse("is chunked with \(written) of its \(expected) chunks written; its data is missing (truncated or hostile file)")
        }
    }
}
