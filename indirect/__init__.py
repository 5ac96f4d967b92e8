"""indirect: language-guided zero-shot deep metric learning (InDiReCT, WACV 2023) as a toolkit."""
__version__ = "0.1.0"
