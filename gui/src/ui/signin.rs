//! The sign-in window: broker address, login, masked password, Sign in, Sign up, Continue
//! (a session kept by Disconnect) and the language selector.

use super::{labelled, message_frame, Action, Msg, Rect, Screen, TEXT_SIZE};
use crate::i18n::LANGUAGE_NAMES;
use fltk::app::Sender;
use fltk::button::Button;
use fltk::enums::{Align, CallbackTrigger, Font};
use fltk::frame::Frame;
use fltk::input::{Input, SecretInput};
use fltk::menu::Choice;
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The window's size.
pub const SIZE: (i32, i32) = (440, 420);
/// The broker address input.
pub const BROKER: Rect = (20, 80, 400, 28);
/// The login input.
pub const LOGIN: Rect = (20, 136, 400, 28);
/// The password input.
pub const PASSWORD: Rect = (20, 192, 400, 28);
/// The Sign in button.
pub const SIGN_IN: Rect = (20, 236, 195, 34);
/// The Sign up button.
pub const SIGN_UP: Rect = (225, 236, 195, 34);
/// The Continue button (shown when a session is kept).
pub const CONTINUE: Rect = (20, 280, 400, 30);
/// Where errors show.
pub const ERROR: Rect = (20, 318, 400, 48);
/// The language selector.
pub const LANGUAGE: Rect = (220, 376, 200, 28);

/// The sign-in window's widgets.
pub struct SignInWindow {
    /// The window.
    pub window: Window,
    title: Frame,
    /// Broker address.
    pub broker: Input,
    /// Login.
    pub login: Input,
    /// Password, masked.
    pub password: SecretInput,
    sign_in: Button,
    sign_up: Button,
    /// Resume a kept session.
    pub continue_as: Button,
    /// Errors and reasons.
    pub error: Frame,
    /// The language selector.
    pub language: Choice,
    continue_login: String,
}

impl SignInWindow {
    /// Builds the window, hidden.
    pub fn build(sender: Sender<Msg>) -> SignInWindow {
        let mut window = Window::new(100, 100, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let mut title = Frame::new(20, 12, 400, 36, None);
        title.set_label_size(TEXT_SIZE + 8);
        title.set_label_font(Font::HelveticaBold);
        title.set_align(Align::Inside | Align::Left);
        let broker = labelled(Input::new(BROKER.0, BROKER.1, BROKER.2, BROKER.3, None));
        let login = labelled(Input::new(LOGIN.0, LOGIN.1, LOGIN.2, LOGIN.3, None));
        let mut password = labelled(SecretInput::new(PASSWORD.0, PASSWORD.1, PASSWORD.2, PASSWORD.3, None));
        // Enter in the password box signs in.
        password.set_trigger(CallbackTrigger::EnterKeyAlways);
        password.emit(sender, Msg::Ui(Action::SignIn));
        let mut sign_in = Button::new(SIGN_IN.0, SIGN_IN.1, SIGN_IN.2, SIGN_IN.3, None);
        sign_in.emit(sender, Msg::Ui(Action::SignIn));
        let mut sign_up = Button::new(SIGN_UP.0, SIGN_UP.1, SIGN_UP.2, SIGN_UP.3, None);
        sign_up.emit(sender, Msg::Ui(Action::ShowSignUp));
        let mut continue_as = Button::new(CONTINUE.0, CONTINUE.1, CONTINUE.2, CONTINUE.3, None);
        continue_as.emit(sender, Msg::Ui(Action::Continue));
        continue_as.hide();
        let error = message_frame(ERROR);
        let mut language = Choice::new(LANGUAGE.0, LANGUAGE.1, LANGUAGE.2, LANGUAGE.3, None);
        language.set_align(Align::Left);
        for name in LANGUAGE_NAMES {
            language.add_choice(name);
        }
        language.emit(sender, Msg::Ui(Action::Language(Screen::SignIn)));
        window.end();
        window.emit(sender, Msg::Ui(Action::Quit));
        let mut this = SignInWindow {
            window,
            title,
            broker,
            login,
            password,
            sign_in,
            sign_up,
            continue_as,
            error,
            language,
            continue_login: String::new(),
        };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.signin.title"));
        self.title.set_label("Joint");
        self.broker.set_label(&t!("gui.signin.broker"));
        self.login.set_label(&t!("gui.signin.login"));
        self.password.set_label(&t!("gui.signin.password"));
        self.sign_in.set_label(&t!("gui.signin.sign_in"));
        self.sign_up.set_label(&t!("gui.signin.sign_up"));
        self.continue_as.set_label(&t!("gui.signin.continue", login = self.continue_login));
        self.language.set_label(&t!("gui.language"));
        self.window.redraw();
    }

    /// Offers to resume the session of `login`, or hides the offer.
    pub fn offer_continue(&mut self, login: Option<&str>) {
        match login {
            Some(login) => {
                self.continue_login = login.to_owned();
                self.continue_as.set_label(&t!("gui.signin.continue", login = login));
                self.continue_as.show();
            }
            None => self.continue_as.hide(),
        }
        self.window.redraw();
    }

    /// Enables or disables the controls while a request is out.
    pub fn set_busy(&mut self, busy: bool) {
        for button in [&mut self.sign_in, &mut self.sign_up, &mut self.continue_as] {
            if busy {
                button.deactivate();
            } else {
                button.activate();
            }
        }
    }
}
