import Foundation
import VGGConvKit

// usage: ConvertAndVerify SAMPLES_DIR OUTPUT_DIR
let samples = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "samples"
let outputs = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : NSTemporaryDirectory()
do {
    // Run the Keras model on Keras's own input batch and compare with what Keras computed.
    let model = "\(samples)/vgg_small_tfkeras_model.h5"
    let output = try Prediction.run(model: model, input: "\(samples)/golden/vgg_small_input_nhwc.npy", layout: .nhwc)
    let golden = try readNpy("\(samples)/golden/vgg_small_keras_output.npy")
    let check = try Verification.compare(output: output, golden: golden, goldenPath: "golden", atol: 1e-5, rtol: 1e-4)
    print(check.passed ? "PASS" : "FAIL", "\(check.samples.count) samples against Keras's outputs")

    // Convert it for PyTorch: a state_dict torch.load(weights_only=True) reads, plus the module it loads into.
    var options = ConversionOptions()
    options.overwrite = true
    let result = try Converter.convert(input: model, output: "\(outputs)/vgg_small.pth", options: options)
    print("wrote \(result.outputPath): \(result.tensorCount) tensors", result.modulePath.map { "and \($0)" } ?? "")
    exit(check.passed ? 0 : 1)
} catch {
    // Errors carry their cause; those something can fix say what (a Remedy), for the app to offer.
    let remedy = (error as? Remediable)?.remedy.map { " (remedy: \($0))" } ?? ""
    FileHandle.standardError.write(Data("error: \(error)\(remedy)\n".utf8))
    exit(2)
}
