//! The sign-up window: login, display name, password twice, and the rules shown above the
//! button (checked before anything is sent).

use super::{labelled, message_frame, Action, Msg, Rect, TEXT_SIZE};
use fltk::app::Sender;
use fltk::button::Button;
use fltk::enums::{Align, CallbackTrigger};
use fltk::frame::Frame;
use fltk::input::{Input, SecretInput};
use fltk::prelude::*;
use fltk::window::Window;
use rust_i18n::t;

/// The window's size.
pub const SIZE: (i32, i32) = (440, 500);
/// The login input.
pub const LOGIN: Rect = (20, 36, 400, 28);
/// The display name input.
pub const NAME: Rect = (20, 92, 400, 28);
/// The password input.
pub const PASSWORD: Rect = (20, 148, 400, 28);
/// The password-again input.
pub const AGAIN: Rect = (20, 204, 400, 28);
/// The rules.
pub const RULES: Rect = (20, 242, 400, 112);
/// Where errors show.
pub const ERROR: Rect = (20, 358, 400, 60);
/// The Create account button.
pub const CREATE: Rect = (20, 430, 195, 34);
/// The Back button.
pub const BACK: Rect = (225, 430, 195, 34);

/// The sign-up window's widgets.
pub struct SignUpWindow {
    /// The window.
    pub window: Window,
    /// Login.
    pub login: Input,
    /// Display name.
    pub name: Input,
    /// Password.
    pub password: SecretInput,
    /// Password again.
    pub again: SecretInput,
    rules: Frame,
    /// Errors.
    pub error: Frame,
    create: Button,
    back: Button,
}

impl SignUpWindow {
    /// Builds the window, hidden.
    pub fn build(sender: Sender<Msg>) -> SignUpWindow {
        let mut window = Window::new(120, 80, SIZE.0, SIZE.1, None);
        window.set_xclass("joint-gui");
        let login = labelled(Input::new(LOGIN.0, LOGIN.1, LOGIN.2, LOGIN.3, None));
        let name = labelled(Input::new(NAME.0, NAME.1, NAME.2, NAME.3, None));
        let password = labelled(SecretInput::new(PASSWORD.0, PASSWORD.1, PASSWORD.2, PASSWORD.3, None));
        let mut again = labelled(SecretInput::new(AGAIN.0, AGAIN.1, AGAIN.2, AGAIN.3, None));
        again.set_trigger(CallbackTrigger::EnterKeyAlways);
        again.emit(sender, Msg::Ui(Action::SignUp));
        let mut rules = Frame::new(RULES.0, RULES.1, RULES.2, RULES.3, None);
        rules.set_align(Align::Inside | Align::Left | Align::Top | Align::Wrap);
        rules.set_label_size(TEXT_SIZE - 2);
        let error = message_frame(ERROR);
        let mut create = Button::new(CREATE.0, CREATE.1, CREATE.2, CREATE.3, None);
        create.emit(sender, Msg::Ui(Action::SignUp));
        let mut back = Button::new(BACK.0, BACK.1, BACK.2, BACK.3, None);
        back.emit(sender, Msg::Ui(Action::BackToSignIn));
        window.end();
        window.emit(sender, Msg::Ui(Action::BackToSignIn));
        let mut this = SignUpWindow { window, login, name, password, again, rules, error, create, back };
        this.relabel();
        this
    }

    /// Sets every label from the current language.
    pub fn relabel(&mut self) {
        self.window.set_label(&t!("gui.signup.title"));
        self.login.set_label(&t!("gui.signin.login"));
        self.name.set_label(&t!("gui.signup.name"));
        self.password.set_label(&t!("gui.signin.password"));
        self.again.set_label(&t!("gui.signup.again"));
        self.rules.set_label(&t!("gui.signup.rules"));
        self.create.set_label(&t!("gui.signup.create"));
        self.back.set_label(&t!("gui.signup.back"));
        self.window.redraw();
    }

    /// Enables or disables the controls while a request is out.
    pub fn set_busy(&mut self, busy: bool) {
        if busy {
            self.create.deactivate();
        } else {
            self.create.activate();
        }
    }
}
