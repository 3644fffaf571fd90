"""The learned end of turn: Smart Turn v3 (pipecat-ai's model, BSD-2) on onnxruntime."""
