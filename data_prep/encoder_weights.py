"""Save an ImageNet-pretrained encoder's weights to a local file for model.load_from.

Needs internet access (segmentation_models_pytorch downloads the weights); segal itself never downloads
at run time. Run it once where the network is open, copy the file to the GPU nodes.

    python data_prep/encoder_weights.py resnet18 checkpoints/resnet18_imagenet.pth
"""
import argparse
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", help="an smp encoder name, e.g. resnet18, resnet50")
    parser.add_argument("out", help="where to write the encoder's state dict")
    parser.add_argument("--weights", default="imagenet", help="smp's name of the pretrained weights (imagenet)")
    args = parser.parse_args(argv)
    import segmentation_models_pytorch as smp
    import torch

    encoder = smp.encoders.get_encoder(args.encoder, weights=args.weights)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(encoder.state_dict(), args.out)
    print(f"wrote {len(encoder.state_dict())} tensors of {args.encoder} ({args.weights}) to {args.out}")


if __name__ == "__main__":
    main()
