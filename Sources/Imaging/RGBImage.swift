import CImageCodecs
import FileIO
import VGGCore

/// An 8-bit RGB image, rows top to bottom, pixels R, G, B.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width × height × 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The image mirrored left to right.
    public var flippedHorizontally: RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                let (to, from) = ((y * width + x) * 3, (y * width + width - 1 - x) * 3)
                out[to] = pixels[from]; out[to + 1] = pixels[from + 1]; out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

/// Reads JPEG and PNG files as Pillow's `Image.open(path).convert("RGB")` does (no EXIF rotation, no
/// gamma; see CImageCodecs.h for the conversions).
public enum ImageDecoder {
    /// Images larger than this are refused before decoding (twice Pillow's decompression-bomb warning).
    public static let maximumPixels = 2 * 89_478_485
    /// Scans a progressive JPEG may have: encoders write about 10, and each scan is another pass over the
    /// whole image (3,000 repeated scans took 75 s at 4096x4096, as long in Pillow).
    public static let maximumScans = 100
    /// The memory a decode may take, per byte of the file (with `memoryFloor` always allowed): images
    /// compress, but a photo or screenshot is rarely a thousand times smaller than its pixels.
    public static let memoryPerFileByte = 1024
    public static let memoryFloor = 256 << 20

    /// The file extensions `decode` reads.
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Decodes the file at `path`, choosing the codec by its signature. Refused before the work they
    /// bound: more than `maximumPixels` pixels, more than `maximumScans` JPEG scans, and more memory than
    /// `memoryPerFileByte` times the file's size (at least `memoryFloor`, at most `MemoryBudget.bytes`).
    /// - Throws: `VGGError.badImage` naming the file and what is wrong; `.resourceLimit` for memory.
    public static func decode(path: String, maximumPixels: Int = maximumPixels) throws -> RGBImage {
        try decode(file: try MappedFile(path: path, role: .image), maximumPixels: maximumPixels)
    }

    /// `decode(path:)` of a file already mapped, or bytes in memory.
    public static func decode(file: MappedFile, maximumPixels: Int = maximumPixels) throws -> RGBImage {
        let path = file.path
        let memory = min(MemoryBudget.bytes, max(memoryFloor, ShapeMath.saturatingProduct([file.count, memoryPerFileByte])))
        let limits = cimage_limits(max_pixels: maximumPixels, max_memory: memory, max_scans: Int32(maximumScans))
        return try file.withBytes(offset: 0, length: file.count) { bytes in
            guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count >= 8 else {
                throw VGGError.badImage(path: path, reason: "\(bytes.count) bytes is too short for an image")
            }
            let signature = Array(bytes.prefix(8))
            var result = cimage_result()
            let status: Int32
            if signature.starts(with: [0xFF, 0xD8, 0xFF]) {
                status = cimage_decode_jpeg(base, bytes.count, limits, &result)
            } else if signature == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
                status = cimage_decode_png(base, bytes.count, limits, &result)
            } else {
                throw VGGError.badImage(path: path, reason: "not a JPEG or PNG file (vggconv reads .jpg, .jpeg and .png)")
            }
            defer { cimage_free(&result) }
            if status == -2 {
                let allowance = memory == MemoryBudget.bytes ? "\(Int(MemoryBudget.share * 100))% of this machine's memory or of the process's limit"
                    : "\(memoryPerFileByte)x the file's \(file.count) bytes, at least \(memoryFloor >> 20) MiB"
                throw VGGError.resourceLimit(path: path, reason: "decoding this image needs \(result.needed_bytes) bytes of memory, more than the \(memory) allowed (\(allowance)); the image claims far more pixels than its file holds, or is too large for this machine: downscale it first")
            }
            guard status == 0, let pixels = result.pixels else {
                let message = withUnsafeBytes(of: &result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw VGGError.badImage(path: path, reason: message.isEmpty ? "cannot be decoded" : message)
            }
            let (width, height) = (Int(result.width), Int(result.height))
            return RGBImage(width: width, height: height, pixels: Array(UnsafeBufferPointer(start: pixels, count: width * height * 3)))
        }
    }
}

/// Writes 8-bit images as PNG files (atomically, through `OutputFile`).
public enum PNGWriter {
    /// `channels` 3 (RGB) or 1 (gray), `width × height × channels` bytes.
    /// - Throws: `VGGError.io` when the file cannot be written.
    public static func write(pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String, overwrite: Bool = true) throws {
        precondition(pixels.count == width * height * channels && (channels == 1 || channels == 3))
        var buffer: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = pixels.withUnsafeBufferPointer { cimage_encode_png($0.baseAddress, Int32(width), Int32(height), Int32(channels), &buffer, &size) }
        guard status == 0, let buffer else { throw VGGError.badImage(path: path, reason: "the PNG encoder failed") }
        defer { cimage_free_buffer(buffer) }
        let output = try OutputFile(path: path, overwrite: overwrite)
        try output.write(UnsafeRawBufferPointer(start: buffer, count: size), at: 0)
        try output.commit()
    }

    public static func write(_ image: RGBImage, to path: String, overwrite: Bool = true) throws {
        try write(pixels: image.pixels, width: image.width, height: image.height, channels: 3, to: path, overwrite: overwrite)
    }
}
