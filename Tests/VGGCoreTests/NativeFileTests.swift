import Foundation
import TestSupport
import FileIO
import VGGCore
import XCTest

/// Writing and validating `.vggw` files, including every way a damaged file must be refused.
final class NativeFileTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// A two-layer model (conv 3→2 on 4x4, dense) with recognisable values, written to `name`.
    private func writeSample(_ name: String = "m.vggw") throws -> String {
        func tensor(_ name: String, _ shape: [Int], _ layout: TensorLayout, start: Float) -> SourceTensor {
            let values = (0..<ShapeMath.elementCount(shape)!).map { start + Float($0) }
            return SourceTensor(sourceName: name, dtype: .float32, shape: shape, layout: layout,
                                data: TensorData(bytes: values.withUnsafeBytes { Array($0) }), fileOffset: nil)
        }
        let layers = [
            SourceLayer(name: "c", type: .conv2d, config: LayerConfig(filters: 2, kernelSize: [3, 3], strides: [1, 1], padding: .same, activation: "relu"),
                        parameters: [SourceParameter(role: .kernel, tensor: tensor("c/k", [3, 3, 3, 2], .hwio, start: 0)),
                                     SourceParameter(role: .bias, tensor: tensor("c/b", [2], .vector, start: 100))]),
            SourceLayer(name: "p", type: .maxPooling2d, config: LayerConfig(strides: [2, 2], padding: .valid, poolSize: [2, 2])),
            SourceLayer(name: "f", type: .flatten, config: LayerConfig()),
            SourceLayer(name: "d", type: .dense, config: LayerConfig(activation: "softmax", units: 3),
                        parameters: [SourceParameter(role: .kernel, tensor: tensor("d/k", [8, 3], .inOut, start: 200))]),
        ]
        let model = SourceModel(format: "test", path: "memory", layers: layers, inputShape: [4, 4, 3],
                                dataFormat: .channelsLast, architectureInferred: false)
        let path = scratch.file(name)
        try NativeWriter.write(try ModelAssembler.plan(model), to: path, overwrite: false, sourceBytes: 0)
        return path
    }

    func testRoundTripKeepsLayoutNamesAndAlignment() throws {
        let native = try NativeFile(path: try writeSample())
        XCTAssertEqual(native.header.tensors.map(\.name), ["block1_conv1.weight", "block1_conv1.bias", "predictions.weight"])
        XCTAssertEqual(native.header.architecture.layers.map(\.outputShape), [[2, 4, 4], [2, 2, 2], [8], [3]])
        for tensor in native.header.tensors { XCTAssertEqual(tensor.offset % 64, 0) }
        let dense = try native.tensor(named: "predictions.weight")
        XCTAssertEqual(dense.shape, [3, 8])
        let values = native.withBytes(of: dense) { Array($0.bindMemory(to: Float.self)) }
        // (in 8 = h,w,c 2x2x2) → (out, c*4 + h*2 + w); source index (h*2+w)*2+c row, column out.
        XCTAssertEqual(values[0 * 8 + 1 * 4 + 0], 200 + Float((0 * 2 + 1) * 3 + 0))
        XCTAssertEqual(values[2 * 8 + 0 * 4 + 3], 200 + Float((3 * 2 + 0) * 3 + 2))
    }

    private func damaged(_ edit: (inout Data) -> Void) throws -> String {
        let path = try writeSample()
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        edit(&data)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    private func assertRefused(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try NativeFile(path: path), file: file, line: line) {
            XCTAssertTrue("\($0)".contains(fragment), "\($0)", file: file, line: line)
        }
    }

    func testBadMagic() throws { assertRefused(try damaged { $0[0] = 0x41 }, "does not start with the VGGW magic") }
    func testTruncated() throws { assertRefused(try damaged { $0 = $0.prefix($0.count - 10) }, "truncated") }
    func testTrailingBytes() throws { assertRefused(try damaged { $0.append(contentsOf: [1, 2, 3]) }, "unexpected bytes after the last tensor") }
    func testFlippedDataByte() throws { assertRefused(try damaged { $0[$0.count - 1] ^= 1 }, "fails its checksum") }
    func testHugeHeaderLength() throws { assertRefused(try damaged { $0[23] = 0x7F }, "exceeds") }
    func testNewerVersion() throws { assertRefused(try damaged { $0[8] = 9 }, "format version 9") }
    func testHeaderNotJSON() throws { assertRefused(try damaged { $0[24] = 0x5B }, "header is not valid") }
    func testShortFile() throws {
        let path = scratch.file("short.vggw")
        try Data(NativeFormat.magic + [1, 0]).write(to: URL(fileURLWithPath: path))
        assertRefused(path, "shorter than the 24-byte preamble")
    }

    func testExistingFileIsNotOverwrittenWithoutPermission() throws {
        let path = try writeSample()
        XCTAssertThrowsError(try writeSample()) { XCTAssertTrue("\($0)".contains("already exists")) }
        XCTAssertNoThrow(try NativeFile(path: path))
        XCTAssertEqual(scratch.contents(), ["m.vggw"])
    }
}
