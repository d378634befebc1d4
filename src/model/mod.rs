//! The CLAP model core, generic over the burn backend: the log-mel front end ([`logmel`]), the CNN14
//! audio encoder ([`cnn14`]), the BERT text encoder ([`bert`]) and its tokenizer ([`tokenizer`]), the
//! CLAP head and contrastive loss ([`clap`]), and weight import ([`weights`]).

pub mod bert;
pub mod clap;
pub mod cnn14;
pub mod logmel;
pub mod tokenizer;
pub mod weights;
