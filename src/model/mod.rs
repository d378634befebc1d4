//! The CLAP model core, generic over the burn backend: the log-mel front end ([`logmel`]), the encoder
//! traits and the encoders a config can name ([`encoder`]: CNN14 ([`cnn14`]), Wavegram-Logmel-CNN14
//! ([`wavegram_logmel_cnn14`]), ResNet38 ([`resnet38`]), AST ([`ast`]) and a small CNN
//! ([`small_cnn`]) for audio; BERT ([`bert`]) and a small convolutional encoder ([`small_text`]) for
//! text, with the WordPiece tokenizer ([`tokenizer`])), the CLAP head and contrastive loss
//! ([`clap`]), and weight import ([`weights`], with [`pickle_guard`] bounding what a `.pth` file may ask for).

pub mod ast;
pub mod bert;
pub mod checkpoint;
pub mod clap;
pub mod cnn14;
pub mod encoder;
pub mod logmel;
pub mod pickle_guard;
pub mod registry;
pub mod resnet38;
pub mod small_cnn;
pub mod small_text;
pub mod tokenizer;
pub mod wavegram_logmel_cnn14;
pub mod weights;
